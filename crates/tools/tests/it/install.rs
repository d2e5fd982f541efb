//! Installing into the cache from a local HTTP server: the right bytes install; a wrong
//! checksum, a truncated body or a 404 leave nothing behind and say why.
