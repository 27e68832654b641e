/* hs_media: see hs_media.h. Files are laid out like Synapse's local_content tree
 * (two-character fan-out directory) so no directory grows to millions of entries.
 * Writes go to a mkstemp file in the destination directory, so the final rename never
 * crosses a filesystem; the directory is fsynced after the rename so the new name
 * itself survives a power cut. */
#include "server-core/hs_media.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

void hs_media_new_id(char out[HS_MEDIA_ID_LEN + 1])
{
    static const char letters[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    for (int i = 0; i < HS_MEDIA_ID_LEN; i++) out[i] = letters[randombytes_uniform(sizeof letters - 1)];
    out[HS_MEDIA_ID_LEN] = '\0';
}

bool hs_media_id_valid(const char *id)
{
    size_t n = 0;
    for (const char *p = id; *p; p++, n++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
        if (!ok || n >= HS_MEDIA_ID_MAX) return false;
    }
    /* At least three characters: two name the fan-out directory, the rest the file. */
    return n >= 3;
}

static int file_path(const char *dir, const char *media_id, char *sub, size_t subcap, char *path, size_t cap)
{
    int a = snprintf(sub, subcap, "%s/local/%.2s", dir, media_id);
    int b = snprintf(path, cap, "%s/%s", sub, media_id + 2);
    return (a < 0 || (size_t)a >= subcap || b < 0 || (size_t)b >= cap) ? -1 : 0;
}

/* mkdir -p for the two levels below `dir` (and `dir` itself). */
static int make_dirs(const char *dir, const char *sub)
{
    char local[4200];
    snprintf(local, sizeof local, "%s/local", dir);
    const char *steps[] = {dir, local, sub};
    for (size_t i = 0; i < 3; i++)
        if (mkdir(steps[i], 0750) != 0 && errno != EEXIST) return -1;
    return 0;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int hs_media_write(const char *dir, const char *media_id, const void *data, size_t len, char sha256_hex[65],
                   char *err, size_t errlen)
{
    char sub[4200], path[4500], tmp[4600];
    if (!hs_media_id_valid(media_id) || file_path(dir, media_id, sub, sizeof sub, path, sizeof path) != 0) {
        snprintf(err, errlen, "media path too long or media ID invalid");
        return -1;
    }
    if (make_dirs(dir, sub) != 0) {
        snprintf(err, errlen, "cannot create media directory %s: %s", sub, strerror(errno));
        return -1;
    }
    snprintf(tmp, sizeof tmp, "%s/.upload-XXXXXX", sub);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create a file in %s: %s", sub, strerror(errno));
        return -1;
    }
    if (write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    int dfd = open(sub, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    uint8_t hash[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(hash, data, len);
    sodium_bin2hex(sha256_hex, 65, hash, sizeof hash);
    return 0;
}

int hs_media_remove(const char *dir, const char *media_id)
{
    char sub[4200], path[4500];
    if (!hs_media_id_valid(media_id) || file_path(dir, media_id, sub, sizeof sub, path, sizeof path) != 0) return -1;
    return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
}

int hs_media_open(const char *dir, const char *media_id, int64_t max_len, int *fd, uint64_t *len)
{
    char sub[4200], path[4500];
    if (!hs_media_id_valid(media_id) || file_path(dir, media_id, sub, sizeof sub, path, sizeof path) != 0) return 1;
    int f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0) return errno == ENOENT ? 1 : -1;
    struct stat sb;
    if (fstat(f, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > max_len) {
        close(f);
        return -1;
    }
    *fd = f;
    *len = (uint64_t)sb.st_size;
    return 0;
}

int hs_media_read(const char *dir, const char *media_id, int64_t max_len, char **data, size_t *len)
{
    int fd;
    uint64_t size;
    int rc = hs_media_open(dir, media_id, max_len, &fd, &size);
    if (rc != 0) return rc;
    size_t n = (size_t)size;
    char *buf = malloc(n ? n : 1);
    size_t got = 0;
    while (buf && got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    if (!buf || got != n) {
        free(buf);
        return -1;
    }
    *data = buf;
    *len = n;
    return 0;
}

bool hs_media_inline_type(const char *content_type)
{
    /* Types browsers render without running scripts; the same list as Synapse's. */
    static const char *const safe[] = {
        "text/css",   "text/plain", "text/csv",   "application/json", "application/ld+json", "image/jpeg",
        "image/gif",  "image/png",  "image/apng", "image/webp",       "image/avif",          "video/mp4",
        "video/webm", "video/ogg",  "video/quicktime", "audio/mp4",   "audio/webm",          "audio/aac",
        "audio/mpeg", "audio/ogg",  "audio/wave", "audio/wav",        "audio/x-wav",         "audio/x-pn-wav",
        "audio/flac", "audio/x-flac",
    };
    size_t n = strcspn(content_type, ";");
    while (n > 0 && (content_type[n - 1] == ' ' || content_type[n - 1] == '\t')) n--;
    for (size_t i = 0; i < sizeof safe / sizeof safe[0]; i++)
        if (strlen(safe[i]) == n && strncasecmp(safe[i], content_type, n) == 0) return true;
    return false;
}

int hs_media_disposition(const char *content_type, const char *file_name, char *out, size_t cap)
{
    const char *kind = hs_media_inline_type(content_type) ? "inline" : "attachment";
    int w = snprintf(out, cap, "%s", kind);
    if (w < 0 || (size_t)w >= cap) return -1;
    if (!file_name || !file_name[0]) return 0;
    size_t o = (size_t)w;
    w = snprintf(out + o, cap - o, "; filename*=utf-8''");
    if (w < 0 || (size_t)w >= cap - o) return -1;
    o += (size_t)w;
    /* RFC 8187 attr-char: everything else is percent-encoded, so quotes, ';' and
     * control characters in a user's file name cannot break the header. */
    for (const unsigned char *p = (const unsigned char *)file_name; *p; p++) {
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                     strchr("!#$&+-.^_`|~", *p);
        if (o + 4 > cap) return -1;
        if (plain) out[o++] = (char)*p;
        else o += (size_t)snprintf(out + o, cap - o, "%%%02X", *p);
    }
    out[o] = '\0';
    return 0;
}

bool hs_media_type_valid(const char *type)
{
    size_t n = strlen(type);
    if (n == 0 || n > 255) return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)type[i] < 0x20 || (unsigned char)type[i] > 0x7e) return false;
    const char *slash = strchr(type, '/');
    size_t main_len = strcspn(type, "/;");
    return slash && main_len > 0 && slash == type + main_len && slash[1] != '\0' && slash[1] != ';';
}
