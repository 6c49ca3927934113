package harness

import (
	"net/http"

	multierror "github.com/hashicorp/go-multierror"
	"github.com/hashicorp/vault/sdk/logical"
)

// HTTPStatus is the HTTP status (and error text) a Vault API client would get
// for a backend's (response, error): Vault's core collects routing errors in
// a multierror, the HTTP layer calls logical.RespondErrorCommon and then
// logical.RespondError adjusts the status (e.g. for coded errors).
// Successful requests give 200, or 204 when there is no response.
func HTTPStatus(req *logical.Request, resp *logical.Response, err error) (int, error) {
	if err != nil {
		err = multierror.Append(nil, err)
	}
	status, outErr := logical.RespondErrorCommon(req, resp, err)
	if status == 0 && outErr == nil {
		if resp == nil {
			return http.StatusNoContent, nil
		}
		return http.StatusOK, nil
	}
	if status == 0 {
		status = http.StatusInternalServerError
	}
	if outErr != nil {
		logical.AdjustErrorStatusCode(&status, outErr)
	}
	return status, outErr
}
