/* sim/io/file.c - see file.h. */
#include "file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int file_read_all(const char *path, size_t max, const char *what, int big_code,
                  char **out, size_t *len, struct sim_err *err)
{
    struct stat st;
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t n;

    if (!f)
        return sim_err_set(err, SIM_EIO, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        return sim_err_set(err, SIM_EIO, "%s: is a directory, not %s", path, what);
    }
    if (!(buf = malloc(max + 1))) {
        fclose(f);
        return sim_err_set(err, SIM_ENOMEM, "%s: out of memory", path);
    }
    n = fread(buf, 1, max + 1, f);
    if (ferror(f)) {
        int e = errno;
        fclose(f);
        free(buf);
        return sim_err_set(err, SIM_EIO, "%s: read error: %s", path, strerror(e));
    }
    fclose(f);
    if (n > max) {
        free(buf);
        return sim_err_set(err, big_code, "%s: larger than %zu bytes; not %s", path, max, what);
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return SIM_OK;
}
