package backupstore

import "errors"

var errNotYet = errors.New("backupstore: driver not written yet")

func newSwift(SwiftConfig, Credentials) (Store, error) { return nil, errNotYet }
func newS3(S3Config, Credentials) (Store, error)       { return nil, errNotYet }
func newDirectory(DirectoryConfig) (Store, error)      { return nil, errNotYet }
