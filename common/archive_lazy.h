/* libarchive is loaded on first use (see archive_lazy.c), so that a
 * command or a fully cached build that writes and reads no tar does not
 * map it: its dependencies (libxml2, ICU, libstdc++, nettle, lzma, bz2,
 * lz4, acl) cost more at start-up than the rest of cbuild. Code includes
 * this header instead of <archive.h> and <archive_entry.h> and calls
 * libarchive as usual: each name below is a macro for a pointer the first
 * call fills in. A libarchive that cannot be loaded ends the process with
 * a message naming it. A function not listed here is a link error (cbuild
 * does not link libarchive): add its name to CB_ARCHIVE_FUNCS and below. */
#ifndef CB_COMMON_ARCHIVE_LAZY_H
#define CB_COMMON_ARCHIVE_LAZY_H

#include <archive.h>
#include <archive_entry.h>

#define CB_ARCHIVE_FUNCS(X) \
    X(archive_entry_copy_hardlink) \
    X(archive_entry_copy_pathname) \
    X(archive_entry_copy_stat) \
    X(archive_entry_copy_symlink) \
    X(archive_entry_filetype) \
    X(archive_entry_free) \
    X(archive_entry_gid) \
    X(archive_entry_hardlink) \
    X(archive_entry_linkify) \
    X(archive_entry_linkresolver_free) \
    X(archive_entry_linkresolver_new) \
    X(archive_entry_linkresolver_set_strategy) \
    X(archive_entry_mtime) \
    X(archive_entry_mtime_nsec) \
    X(archive_entry_new) \
    X(archive_entry_pathname) \
    X(archive_entry_perm) \
    X(archive_entry_rdevmajor) \
    X(archive_entry_rdevminor) \
    X(archive_entry_set_filetype) \
    X(archive_entry_set_gid) \
    X(archive_entry_set_hardlink) \
    X(archive_entry_set_mtime) \
    X(archive_entry_set_pathname) \
    X(archive_entry_set_perm) \
    X(archive_entry_set_rdevmajor) \
    X(archive_entry_set_rdevminor) \
    X(archive_entry_set_size) \
    X(archive_entry_set_uid) \
    X(archive_entry_size) \
    X(archive_entry_size_is_set) \
    X(archive_entry_sparse_clear) \
    X(archive_entry_symlink) \
    X(archive_entry_uid) \
    X(archive_entry_xattr_add_entry) \
    X(archive_entry_xattr_count) \
    X(archive_entry_xattr_next) \
    X(archive_entry_xattr_reset) \
    X(archive_errno) \
    X(archive_error_string) \
    X(archive_filter_bytes) \
    X(archive_filter_code) \
    X(archive_read_data) \
    X(archive_read_data_block) \
    X(archive_read_disk_entry_from_file) \
    X(archive_read_disk_new) \
    X(archive_read_disk_set_behavior) \
    X(archive_read_free) \
    X(archive_read_new) \
    X(archive_read_next_header) \
    X(archive_read_open) \
    X(archive_read_open_fd) \
    X(archive_read_open_filename) \
    X(archive_read_support_filter_all) \
    X(archive_read_support_filter_bzip2) \
    X(archive_read_support_filter_gzip) \
    X(archive_read_support_filter_lzma) \
    X(archive_read_support_filter_xz) \
    X(archive_read_support_filter_zstd) \
    X(archive_read_support_format_raw) \
    X(archive_read_support_format_tar) \
    X(archive_set_error) \
    X(archive_version_string) \
    X(archive_write_add_filter_none) \
    X(archive_write_close) \
    X(archive_write_data) \
    X(archive_write_data_block) \
    X(archive_write_disk_new) \
    X(archive_write_disk_set_options) \
    X(archive_write_finish_entry) \
    X(archive_write_free) \
    X(archive_write_header) \
    X(archive_write_new) \
    X(archive_write_open2) \
    X(archive_write_open_fd) \
    X(archive_write_set_bytes_in_last_block) \
    X(archive_write_set_bytes_per_block) \
    X(archive_write_set_format_option) \
    X(archive_write_set_format_pax) \
    X(archive_write_set_format_pax_restricted)

typedef struct cb_archive_api {
#define CB_ARCHIVE_MEMBER(name) __typeof__(name) *name;
    CB_ARCHIVE_FUNCS(CB_ARCHIVE_MEMBER)
#undef CB_ARCHIVE_MEMBER
} cb_archive_api_t;

extern const cb_archive_api_t *cb_archive_api_loaded;
/* Loads libarchive once per process (exits on failure). */
const cb_archive_api_t *cb_archive_api_load(void);

static inline const cb_archive_api_t *cb_archive_api(void) {
    return cb_archive_api_loaded ? cb_archive_api_loaded : cb_archive_api_load();
}

#ifndef CB_ARCHIVE_LAZY_IMPL
#define archive_entry_copy_hardlink (cb_archive_api()->archive_entry_copy_hardlink)
#define archive_entry_copy_pathname (cb_archive_api()->archive_entry_copy_pathname)
#define archive_entry_copy_stat (cb_archive_api()->archive_entry_copy_stat)
#define archive_entry_copy_symlink (cb_archive_api()->archive_entry_copy_symlink)
#define archive_entry_filetype (cb_archive_api()->archive_entry_filetype)
#define archive_entry_free (cb_archive_api()->archive_entry_free)
#define archive_entry_gid (cb_archive_api()->archive_entry_gid)
#define archive_entry_hardlink (cb_archive_api()->archive_entry_hardlink)
#define archive_entry_linkify (cb_archive_api()->archive_entry_linkify)
#define archive_entry_linkresolver_free (cb_archive_api()->archive_entry_linkresolver_free)
#define archive_entry_linkresolver_new (cb_archive_api()->archive_entry_linkresolver_new)
#define archive_entry_linkresolver_set_strategy (cb_archive_api()->archive_entry_linkresolver_set_strategy)
#define archive_entry_mtime (cb_archive_api()->archive_entry_mtime)
#define archive_entry_mtime_nsec (cb_archive_api()->archive_entry_mtime_nsec)
#define archive_entry_new (cb_archive_api()->archive_entry_new)
#define archive_entry_pathname (cb_archive_api()->archive_entry_pathname)
#define archive_entry_perm (cb_archive_api()->archive_entry_perm)
#define archive_entry_rdevmajor (cb_archive_api()->archive_entry_rdevmajor)
#define archive_entry_rdevminor (cb_archive_api()->archive_entry_rdevminor)
#define archive_entry_set_filetype (cb_archive_api()->archive_entry_set_filetype)
#define archive_entry_set_gid (cb_archive_api()->archive_entry_set_gid)
#define archive_entry_set_hardlink (cb_archive_api()->archive_entry_set_hardlink)
#define archive_entry_set_mtime (cb_archive_api()->archive_entry_set_mtime)
#define archive_entry_set_pathname (cb_archive_api()->archive_entry_set_pathname)
#define archive_entry_set_perm (cb_archive_api()->archive_entry_set_perm)
#define archive_entry_set_rdevmajor (cb_archive_api()->archive_entry_set_rdevmajor)
#define archive_entry_set_rdevminor (cb_archive_api()->archive_entry_set_rdevminor)
#define archive_entry_set_size (cb_archive_api()->archive_entry_set_size)
#define archive_entry_set_uid (cb_archive_api()->archive_entry_set_uid)
#define archive_entry_size (cb_archive_api()->archive_entry_size)
#define archive_entry_size_is_set (cb_archive_api()->archive_entry_size_is_set)
#define archive_entry_sparse_clear (cb_archive_api()->archive_entry_sparse_clear)
#define archive_entry_symlink (cb_archive_api()->archive_entry_symlink)
#define archive_entry_uid (cb_archive_api()->archive_entry_uid)
#define archive_entry_xattr_add_entry (cb_archive_api()->archive_entry_xattr_add_entry)
#define archive_entry_xattr_count (cb_archive_api()->archive_entry_xattr_count)
#define archive_entry_xattr_next (cb_archive_api()->archive_entry_xattr_next)
#define archive_entry_xattr_reset (cb_archive_api()->archive_entry_xattr_reset)
#define archive_errno (cb_archive_api()->archive_errno)
#define archive_error_string (cb_archive_api()->archive_error_string)
#define archive_filter_bytes (cb_archive_api()->archive_filter_bytes)
#define archive_filter_code (cb_archive_api()->archive_filter_code)
#define archive_read_data (cb_archive_api()->archive_read_data)
#define archive_read_data_block (cb_archive_api()->archive_read_data_block)
#define archive_read_disk_entry_from_file (cb_archive_api()->archive_read_disk_entry_from_file)
#define archive_read_disk_new (cb_archive_api()->archive_read_disk_new)
#define archive_read_disk_set_behavior (cb_archive_api()->archive_read_disk_set_behavior)
#define archive_read_free (cb_archive_api()->archive_read_free)
#define archive_read_new (cb_archive_api()->archive_read_new)
#define archive_read_next_header (cb_archive_api()->archive_read_next_header)
#define archive_read_open (cb_archive_api()->archive_read_open)
#define archive_read_open_fd (cb_archive_api()->archive_read_open_fd)
#define archive_read_open_filename (cb_archive_api()->archive_read_open_filename)
#define archive_read_support_filter_all (cb_archive_api()->archive_read_support_filter_all)
#define archive_read_support_filter_bzip2 (cb_archive_api()->archive_read_support_filter_bzip2)
#define archive_read_support_filter_gzip (cb_archive_api()->archive_read_support_filter_gzip)
#define archive_read_support_filter_lzma (cb_archive_api()->archive_read_support_filter_lzma)
#define archive_read_support_filter_xz (cb_archive_api()->archive_read_support_filter_xz)
#define archive_read_support_filter_zstd (cb_archive_api()->archive_read_support_filter_zstd)
#define archive_read_support_format_raw (cb_archive_api()->archive_read_support_format_raw)
#define archive_read_support_format_tar (cb_archive_api()->archive_read_support_format_tar)
#define archive_set_error (cb_archive_api()->archive_set_error)
#define archive_version_string (cb_archive_api()->archive_version_string)
#define archive_write_add_filter_none (cb_archive_api()->archive_write_add_filter_none)
#define archive_write_close (cb_archive_api()->archive_write_close)
#define archive_write_data (cb_archive_api()->archive_write_data)
#define archive_write_data_block (cb_archive_api()->archive_write_data_block)
#define archive_write_disk_new (cb_archive_api()->archive_write_disk_new)
#define archive_write_disk_set_options (cb_archive_api()->archive_write_disk_set_options)
#define archive_write_finish_entry (cb_archive_api()->archive_write_finish_entry)
#define archive_write_free (cb_archive_api()->archive_write_free)
#define archive_write_header (cb_archive_api()->archive_write_header)
#define archive_write_new (cb_archive_api()->archive_write_new)
#define archive_write_open2 (cb_archive_api()->archive_write_open2)
#define archive_write_open_fd (cb_archive_api()->archive_write_open_fd)
#define archive_write_set_bytes_in_last_block (cb_archive_api()->archive_write_set_bytes_in_last_block)
#define archive_write_set_bytes_per_block (cb_archive_api()->archive_write_set_bytes_per_block)
#define archive_write_set_format_option (cb_archive_api()->archive_write_set_format_option)
#define archive_write_set_format_pax (cb_archive_api()->archive_write_set_format_pax)
#define archive_write_set_format_pax_restricted (cb_archive_api()->archive_write_set_format_pax_restricted)
#endif

#endif
