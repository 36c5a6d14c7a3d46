// Package fulldir gives tests a directory on a full file system, as a root
// file system is when a log ran away: creating a file still works (a tmpfs
// has inodes left), writing data fails with ENOSPC.
//
// Linux only (a tmpfs mount); tests that use it build on Linux.
package fulldir
