package backupstore

import (
	"fmt"
	"path/filepath"
	"regexp"
)

var projectRe = regexp.MustCompile(`^[0-9A-Za-z_-]{1,64}$`)

// CheckProject refuses a project id that could not safely name a directory.
func CheckProject(project string) error {
	if !projectRe.MatchString(project) {
		return fmt.Errorf("backupstore: project id %q cannot name a directory of the directory store", project)
	}
	return nil
}

// ProjectDir is a project's directory in a directory store rooted at root (project checked by CheckProject
// first): each project's backups live in a directory of their own, so a store opened for one project never
// reaches another's objects.
func ProjectDir(root, project string) string { return filepath.Join(root, project) }
