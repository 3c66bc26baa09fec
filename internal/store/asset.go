package store

import (
	"errors"
	"strconv"
)

// ErrStorageQuota means an asset would take the workspace's stored bytes
// over its quota. The returned error is a *StorageQuotaError.
var ErrStorageQuota = errors.New("storage quota exceeded")

// StorageQuotaError carries the figures the 413 answer names.
type StorageQuotaError struct {
	Used  int64 // bytes stored before the refused asset
	Limit int64
	Size  int64 // the refused asset's bytes
}

func (e *StorageQuotaError) Error() string {
	return ErrStorageQuota.Error() + ": " + strconv.FormatInt(e.Used, 10) + " of " + strconv.FormatInt(e.Limit, 10) + " bytes used"
}

// Is makes errors.Is(err, ErrStorageQuota) true.
func (e *StorageQuotaError) Is(target error) bool { return target == ErrStorageQuota }

// Asset is a file a workspace uploaded, or had fetched from Source, to use
// as a run input. Its bytes are the blob BlobKey.
type Asset struct {
	ID             string
	WorkspaceID    string
	Type           string // imageUrl, videoUrl, audioUrl or documentUrl
	ContentType    string // as sniffed from the bytes
	SizeBytes      int64
	BlobKey        string
	Source         string // "" for an upload
	IdempotencyKey string
	Fingerprint    string
	CreatedAt      int64
}

// AssetInsertParams creates an asset. QuotaBytes, when above zero, is the
// most the workspace may store in assets, this one included.
type AssetInsertParams struct {
	Asset
	QuotaBytes int64
}

// AssetListParams pages a workspace's assets, newest first. After* is the
// last asset of the previous page.
type AssetListParams struct {
	WorkspaceID    string
	Limit          int
	AfterCreatedAt int64
	AfterID        string
}

// RunPurge is a finished run whose output files retention may remove: the
// blob keys of its recorded outputs and steps.
type RunPurge struct {
	RunID       string
	CompletedAt int64
	BlobKeys    []string
}
