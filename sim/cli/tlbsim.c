/* sim/cli/tlbsim.c - the tlbsim command: run, check, policies, import, gen,
 * convert, sweep, report, probe, calibrate, validate, repeatability.  Exit status: 0 ok, 2 bad
 * input or usage, 1 internal error. */
#include "cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../models/policy.h"
#include "../io/import.h"
#include "../io/stream.h"
#include "../io/trace.h"
#include "../io/version.h"
#include "../io/wl_spec.h"

int cli_exit_code(int rc)
{
    switch (rc) {
    case SIM_OK:        return EXIT_OK;
    case SIM_EINTR:     return EXIT_INTERRUPTED;
    case SIM_ENOMEM:
    case SIM_EINTERNAL: return EXIT_INTERNAL;
    default:            return EXIT_BADINPUT;
    }
}

void cli_error(const char *msg)
{
    fprintf(stderr, "tlbsim: %s\n", msg);
}

static void usage(FILE *f)
{
    fputs("usage: tlbsim COMMAND [ARGS]\n"
          "\n"
          "A cycle-approximate x86 MMU/TLB simulator with Linux's lazy TLB and a\n"
          "timed IPI shootdown protocol.\n"
          "\n"
          "commands:\n"
          "  run TRACE [--machine M] [--policy P[,P...]] [--out DIR] [--set K=V]...\n"
          "                      simulate; writes summary.csv, cpus.csv, flushes.csv,\n"
          "                      timeline.csv (see `tlbsim run --help`)\n"
          "  check TRACE         validate a trace; exit 0 when valid\n"
          "  policies            list the flush policies\n"
          "  import FORMAT FILE -o OUT.jsonl [--strict] [--freq-mhz N] [--cpus N]\n"
          "                      FORMAT: ftrace (trace-cmd report, raw ftrace, perf\n"
          "                      script), lackey (valgrind --tool=lackey) or champsim\n"
          "                      (ChampSim binary instruction traces)\n"
          "  gen SPEC.json -o OUT.jsonl\n"
          "                      generate a synthetic workload (specs in workloads/)\n"
          "  convert IN OUT [--to jsonl|binary]\n"
          "                      JSON Lines <-> binary trace (default: the other form)\n"
          "  sweep TRACE|SPEC --grid KEY=V1,V2... [--out DIR] [--jobs N] [--repeat N]\n"
          "                      one run per grid point (policy, machine, cpus, seed,\n"
          "                      any --set key), merged into DIR/sweep_summary.csv; or\n"
          "                      --emit-jobs FILE for GNU parallel / Slurm, --merge DIR\n"
          "  report OUTDIR [--title T]\n"
          "                      Markdown report of a comparison run: OUTDIR/report.md\n"
          "  record [-o OUT] [--cpus N] -- PROG [ARGS...]\n"
          "                      run PROG under valgrind (+ perf's kernel events) and\n"
          "                      write its trace: threads, syscalls, references\n"
          "  probe [-o MEAS.json] [--quick] [--repeats N] [--max-threads N] [--rounds N]\n"
          "                      measure flush costs on this machine (docs/validation.md)\n"
          "  calibrate MEAS.json [MEAS.json...] --machine BASE -o MINE.json\n"
          "                      fit the timing keys of BASE to the measurements\n"
          "  validate MEAS.json [MEAS.json...] --machine MINE.json [--out DIR]\n"
          "                      replay every measured case: validation.csv\n"
          "  repeatability MEAS.json MEAS.json... [--out DIR]\n"
          "                      how several probe runs agree, case by case, and the\n"
          "                      remote cost each run shows (spin minus sleep)\n"
          "\n"
          "Every command takes --help.  `tlbsim --version` prints the version.\n"
          "File arguments: `-` is stdin (inputs) or stdout (outputs); inputs compressed\n"
          "with gzip, xz or zstd are read by content, outputs named *.gz, *.xz or *.zst\n"
          "are written compressed.\n"
          "\n"
          "Formats: traces/FORMAT.md.  Models: docs/models.md.  Outputs: docs/output.md.\n", f);
}

static int cmd_check(int argc, char **argv)
{
    struct trace_reader *r;
    struct trace_header hdr;
    struct trace_op op;
    struct sim_err err = { 0 };
    u64 ops = 0, refs = 0;
    int rc;

    if (argc != 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fputs("usage: tlbsim check TRACE\n"
              "Validate every line of TRACE (JSON Lines or binary, plain or compressed with\n"
              "gzip/xz/zstd, `-` for stdin); print the first error as\n"
              "FILE:LINE: FIELD: message and exit 2, or a summary and exit 0.\n",
              argc == 2 ? stdout : stderr);
        return argc == 2 ? EXIT_OK : EXIT_BADINPUT;
    }
    if ((rc = trace_open(argv[1], &r, &hdr, &err))) {
        cli_error(err.msg);
        return cli_exit_code(rc);
    }
    bool binary = trace_format(r) == TRACE_FMT_BINARY;

    while ((rc = trace_next(r, &op, &err)) > 0) {
        ops++;
        refs += op.type == OP_ACCESS ? op.nr_va : op.type == OP_STREAM ? op.count : 0;
    }
    trace_close(r);
    if (rc < 0) {
        cli_error(err.msg);
        return cli_exit_code(rc);
    }
    printf("%s: valid tlbsim trace v%u (%s): %u CPUs, %" PRIu64 " ops, %" PRIu64
           " memory references\n", stream_display_name(argv[1]), hdr.version,
           binary ? "binary" : "JSON Lines", hdr.cpus, ops, refs);
    return EXIT_OK;
}

static int cmd_policies(int argc, char **argv)
{
    if (argc > 1) {
        bool help = !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help");
        fputs("usage: tlbsim policies\n"
              "List the TLB flush policies, one per line: name and description.\n",
              help ? stdout : stderr);
        return help ? EXIT_OK : EXIT_BADINPUT;
    }
    for (size_t i = 0; i < flush_nr_policies; i++)
        printf("%-14s %s\n", flush_policies[i].name, flush_policies[i].desc);
    return EXIT_OK;
}

static int cmd_import(int argc, char **argv)
{
    static const struct option lopts[] = {
        { "output", required_argument, 0, 'o' }, { "strict", no_argument, 0, 'S' },
        { "freq-mhz", required_argument, 0, 'F' }, { "cpus", required_argument, 0, 'c' },
        { "pid", required_argument, 0, 'P' }, { "comm", required_argument, 0, 'C' },
        { "tgid-map", required_argument, 0, 'M' },
        { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
    };
    struct import_opts io = { 0 };
    struct import_stats st;
    struct sim_err err = { 0 };
    const char *out = NULL;
    char *end;
    int c, rc;

    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", lopts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'S': io.strict = true; break;
        case 'C': io.comm = optarg; break;
        case 'M': io.tgid_map = optarg; break;
        case 'P': {
            unsigned long v = strtoul(optarg, &end, 10);
            if (*end || !*optarg || v == 0 || v >= 1ul << 31) {
                fprintf(stderr, "tlbsim: import: --pid: bad process id '%s'\n", optarg);
                return EXIT_BADINPUT;
            }
            io.pid = (s64)v;
            break;
        }
        case 'F':
        case 'c': {
            unsigned long v = strtoul(optarg, &end, 10);
            if (*end || !*optarg || v == 0 || v > 100000) {
                fprintf(stderr, "tlbsim: import: bad number '%s'\n", optarg);
                return EXIT_BADINPUT;
            }
            if (c == 'F')
                io.freq_mhz = (u32)v;
            else
                io.cpus = (u32)v;
            break;
        }
        case 'h':
            fputs("usage: tlbsim import ftrace|lackey|champsim FILE -o OUT.jsonl [--strict]\n"
                  "                     [--freq-mhz N] [--cpus N]\n"
                  "                     [--pid N] [--comm NAME] [--tgid-map FILE]   (ftrace)\n"
                  "Convert a recording to trace format v1.  Lines that cannot be used are\n"
                  "skipped and counted (--strict: the first one is an error).\n"
                  "  --pid N, --comm NAME  keep only that process (threads included) or the\n"
                  "                        processes with a task of that name; the other\n"
                  "                        tasks run in one placeholder address space\n"
                  "  --tgid-map FILE       \"PID TGID\" lines: which tasks are threads of\n"
                  "                        which process (beats what the importer infers)\n"
                  "What was inferred (threads, processes) is printed on stderr.\n"
                  "FILE may be compressed (gzip/xz/zstd, by content) or `-` for stdin;\n"
                  "OUT may be `-` for stdout, or end in .gz/.xz/.zst to compress.\n"
                  "How to record: docs/importers.md.\n", stdout);
            return EXIT_OK;
        default:
            return EXIT_BADINPUT;
        }
    }
    if (argc - optind != 2 || !out) {
        cli_error("usage: tlbsim import FORMAT FILE -o OUT.jsonl");
        return EXIT_BADINPUT;
    }
    rc = import_file(argv[optind], argv[optind + 1], out, &io, &st, &err);
    if (rc) {
        cli_error(err.msg);
        return cli_exit_code(rc);
    }
    import_stats_print(&st, stream_display_name(argv[optind + 1]), stderr);
    return EXIT_OK;
}

static int cmd_gen(int argc, char **argv)
{
    static const struct option lopts[] = {
        { "output", required_argument, 0, 'o' }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
    };
    struct sim_err err = { 0 };
    const char *out = NULL;
    int c, rc;

    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", lopts, NULL)) != -1) {
        if (c == 'o') {
            out = optarg;
        } else if (c == 'h') {
            fputs("usage: tlbsim gen SPEC.json -o OUT.jsonl\n"
                  "Generate a synthetic trace from a workload spec (see workloads/ and\n"
                  "docs/workloads.md); the same spec and seed give the same file.\n"
                  "OUT may be `-` for stdout, or end in .gz/.xz/.zst to compress.\n", stdout);
            return EXIT_OK;
        } else {
            return EXIT_BADINPUT;
        }
    }
    if (argc - optind != 1 || !out) {
        cli_error("usage: tlbsim gen SPEC.json -o OUT.jsonl");
        return EXIT_BADINPUT;
    }
    if ((rc = wl_spec_generate(argv[optind], out, &err))) {
        cli_error(err.msg);
        return cli_exit_code(rc);
    }
    return EXIT_OK;
}

/* The output form without --to: by the name (.jsonl or .tlbt, before any
 * .gz/.xz/.zst), else the other form of the input. */
static int convert_form(const char *out, enum trace_fmt in)
{
    size_t n = strlen(out);

    if (stream_codec_for_name(out) != STREAM_PLAIN)
        n = (size_t)(strrchr(out, '.') - out);
    if (n >= 6 && !strncmp(out + n - 6, ".jsonl", 6))
        return TRACE_FMT_JSONL;
    if (n >= 5 && !strncmp(out + n - 5, ".tlbt", 5))
        return TRACE_FMT_BINARY;
    return in == TRACE_FMT_JSONL ? TRACE_FMT_BINARY : TRACE_FMT_JSONL;
}

static int cmd_convert(int argc, char **argv)
{
    static const struct option lopts[] = {
        { "to", required_argument, 0, 't' }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
    };
    struct trace_reader *r;
    struct trace_writer *w = NULL;
    struct trace_header hdr;
    struct trace_op op;
    struct sim_err err = { 0 };
    int to = -1, c, rc;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
        if (c == 't' && !strcmp(optarg, "jsonl")) {
            to = TRACE_FMT_JSONL;
        } else if (c == 't' && !strcmp(optarg, "binary")) {
            to = TRACE_FMT_BINARY;
        } else if (c == 'h') {
            fputs("usage: tlbsim convert IN OUT [--to jsonl|binary]\n"
                  "Convert between JSON Lines and the binary trace form (traces/FORMAT.md).\n"
                  "Without --to the form follows OUT's name (*.jsonl, *.tlbt, also before\n"
                  ".gz/.xz/.zst), else it is the other form of the input.  IN may be\n"
                  "compressed (gzip/xz/zstd, by content) or `-`; OUT may be `-` (stdout) or\n"
                  "end in .gz/.xz/.zst to compress (`convert t.jsonl t.jsonl.zst`).\n",
                  stdout);
            return EXIT_OK;
        } else {
            cli_error("convert: --to takes jsonl or binary");
            return EXIT_BADINPUT;
        }
    }
    if (argc - optind != 2) {
        cli_error("usage: tlbsim convert IN OUT [--to jsonl|binary]");
        return EXIT_BADINPUT;
    }
    if ((rc = trace_open(argv[optind], &r, &hdr, &err))) {
        cli_error(err.msg);
        return cli_exit_code(rc);
    }
    if (to < 0)
        to = convert_form(argv[optind + 1], trace_format(r));
    rc = trace_writer_open(argv[optind + 1], &hdr, (enum trace_fmt)to, &w, &err);
    while (!rc && (rc = trace_next(r, &op, &err)) > 0)
        rc = trace_write(w, &op, &err);
    trace_close(r);
    if (w) {
        int rc2 = trace_writer_close(w, rc == 0, rc ? NULL : &err);
        if (!rc)
            rc = rc2;
    }
    if (rc) {
        cli_error(err.msg);
        return cli_exit_code(rc);
    }
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : NULL;

    if (!cmd || !strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(cmd ? stdout : stderr);
        return cmd ? EXIT_OK : EXIT_BADINPUT;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("tlbsim %s\n", sim_version());
        return EXIT_OK;
    }
    if (!strcmp(cmd, "run"))
        return cmd_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "check"))
        return cmd_check(argc - 1, argv + 1);
    if (!strcmp(cmd, "policies"))
        return cmd_policies(argc - 1, argv + 1);
    if (!strcmp(cmd, "import"))
        return cmd_import(argc - 1, argv + 1);
    if (!strcmp(cmd, "gen"))
        return cmd_gen(argc - 1, argv + 1);
    if (!strcmp(cmd, "convert"))
        return cmd_convert(argc - 1, argv + 1);
    if (!strcmp(cmd, "sweep"))
        return cmd_sweep(argc - 1, argv + 1);
    if (!strcmp(cmd, "report"))
        return cmd_report(argc - 1, argv + 1);
    if (!strcmp(cmd, "probe"))
        return cmd_probe(argc - 1, argv + 1);
    if (!strcmp(cmd, "calibrate"))
        return cmd_calibrate(argc - 1, argv + 1);
    if (!strcmp(cmd, "validate"))
        return cmd_validate(argc - 1, argv + 1);
    if (!strcmp(cmd, "repeatability"))
        return cmd_repeatability(argc - 1, argv + 1);
    if (!strcmp(cmd, "record"))
        return cmd_record(argc - 1, argv + 1);
    fprintf(stderr, "tlbsim: unknown command '%s' (see `tlbsim --help`)\n", cmd);
    return EXIT_BADINPUT;
}
