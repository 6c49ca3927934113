package conformance

import (
	"context"
	"reflect"
	"testing"
	"time"

	"pachyderm-vault-plugin/test/conformance/standin"
)

// The Go client's repo, project and binding routes, against both
// generations of the stand-in.
func TestStandinBindingRoutes(t *testing.T) {
	for _, g := range []struct {
		generation int
		repo       string
		owner      []string
	}{
		{2, "default/images", []string{"repoOwner"}},
		{1, "images", []string{"OWNER"}},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		s, err := standin.Start(ctx, standin.Options{Script: standinScript(t), Generation: g.generation})
		if err != nil {
			cancel()
			t.Fatalf("gen %d: start: %v", g.generation, err)
		}
		created, err := s.CreateRepo(ctx, "", "images", "robot:owner")
		if err != nil || created.Name != g.repo {
			t.Fatalf("gen %d: CreateRepo = %+v, %v", g.generation, created, err)
		}
		held, err := s.BindingsOf(ctx, "robot:owner")
		want := []standin.ResourceBinding{{Type: "repo", Name: g.repo, Entries: map[string][]string{"robot:owner": g.owner}}}
		if err != nil || !reflect.DeepEqual(held, want) {
			t.Fatalf("gen %d: BindingsOf = %+v, %v; want %+v", g.generation, held, err, want)
		}
		_, projectErr := s.CreateProject(ctx, "ml", "robot:owner")
		if (projectErr == nil) != (g.generation == 2) {
			t.Fatalf("gen %d: CreateProject error = %v", g.generation, projectErr)
		}
		if err := s.DeleteRepo(ctx, g.repo); err != nil {
			t.Fatalf("gen %d: DeleteRepo: %v", g.generation, err)
		}
		if g.generation == 2 {
			if err := s.DeleteProject(ctx, "ml"); err != nil {
				t.Fatalf("DeleteProject: %v", err)
			}
		}
		held, err = s.BindingsOf(ctx, "robot:owner")
		if err != nil || len(held) != 0 {
			t.Fatalf("gen %d: after deletion BindingsOf = %+v, %v", g.generation, held, err)
		}
		if err := s.DeleteRepo(ctx, g.repo); err == nil {
			t.Fatalf("gen %d: deleting a missing repo succeeded", g.generation)
		}
		_ = s.Stop()
		cancel()
	}
}
