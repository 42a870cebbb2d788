package openstack

import (
	"encoding/base64"
	"fmt"
	"sort"

	"gopkg.in/yaml.v3"
)

// cloudConfigHeader starts a cloud-init #cloud-config document.
const cloudConfigHeader = "#cloud-config\n"

type writeFile struct {
	Path        string `yaml:"path"`
	Encoding    string `yaml:"encoding"`
	Content     string `yaml:"content"`
	Owner       string `yaml:"owner,omitempty"`
	Permissions string `yaml:"permissions"`
}

// CloudConfig is the user_data the guest boots with (Trove's prepare_cloud_config): a #cloud-config document
// whose write_files carry every file, base64-encoded, owned by owner (Trove's injected_config_owner:group) and
// readable by it only (the files hold the guest's RPC key). Paths are in sorted order so the same files give
// the same document.
func CloudConfig(files map[string]string, owner string) ([]byte, error) {
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	doc := struct {
		WriteFiles []writeFile `yaml:"write_files"`
	}{WriteFiles: []writeFile{}}
	for _, p := range paths {
		doc.WriteFiles = append(doc.WriteFiles, writeFile{
			Path: p, Encoding: "b64", Content: base64.StdEncoding.EncodeToString([]byte(files[p])),
			Owner: owner, Permissions: "0600",
		})
	}
	b, err := yaml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("cloud-config: %w", err)
	}
	return append([]byte(cloudConfigHeader), b...), nil
}
