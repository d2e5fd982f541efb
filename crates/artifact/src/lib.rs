//! artifact: a published release, fetched and verified (in progress).
