/* tests/fuzz/fuzz_set.c - `--set KEY=VALUE` parsing (model_set_override).
 *
 * Input: lines, each one --set argument (at most 64).  They are applied in
 * order to the built-in defaults, then machine_validate() runs as in
 * `tlbsim run`; a machine that validates must run a small trace under every
 * policy without an internal error.
 */
#include "fuzz_common.h"

#include <stdlib.h>
#include <string.h>

#include "../../sim/io/model_load.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct machine m;
    struct sim_err err = { 0 };
    char *text, *line, *save = NULL;
    int n = 0;

    if (size > 65536 || !(text = malloc(size + 1)))
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    machine_init(&m);
    for (line = strtok_r(text, "\n", &save); line && n < 64;
         line = strtok_r(NULL, "\n", &save), n++) {
        if (model_set_override(&m, line, &err)) {
            if (!err.msg[0])
                fz_fail("model_set_override failed without a message");
            free(text);
            return 0;
        }
    }
    free(text);
    if (machine_validate(&m, &err) == SIM_OK)
        fz_run_small(&m);
    return 0;
}
