//go:build unix

package backupstore

import "syscall"

const noFollow = syscall.O_NOFOLLOW
