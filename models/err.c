/* models/err.c - error strings and the struct sim_err helpers. */
#include "base.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *sim_strerror(int err)
{
    switch (err) {
#define XX(name, val, msg) case val: return msg;
    SIM_ERRNO_MAP(XX)
#undef XX
    }
    return "unknown error";
}

int sim_err_set(struct sim_err *err, int code, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return code;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return code;
}

void sim_err_prefix(struct sim_err *err, const char *fmt, ...)
{
    char head[SIM_ERR_MSG], old[SIM_ERR_MSG];
    va_list ap;

    if (!err)
        return;
    va_start(ap, fmt);
    vsnprintf(head, sizeof(head), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    size_t n = strlen(head);
    if (n >= sizeof(err->msg))
        n = sizeof(err->msg) - 1;
    memcpy(err->msg, head, n);
    size_t m = strlen(old);
    if (m > sizeof(err->msg) - 1 - n)
        m = sizeof(err->msg) - 1 - n;
    memcpy(err->msg + n, old, m);
    err->msg[n + m] = '\0';
}
