/* sim/viz/viz_main.c - the tlbviz command: options, headless screenshots
 * and the SDL2 window.  The only file of tlbviz that calls SDL.
 *
 *   tlbviz TRACE [--machine FILE] [--policy NAME] [--set KEY=VALUE]...
 *                [--screenshot PNG_OR_BMP --at CYCLE] [options]
 *
 * Headless (--screenshot) needs no display and does not initialise SDL
 * video at all: the frame is rendered in memory and written as PNG (our own
 * encoder) or, for a name ending in .bmp, by SDL_SaveBMP.
 * Exit status like tlbsim: 0 ok, 2 bad input or usage, 1 internal error
 * (including "no display").
 */
#include <SDL.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../models/policy.h"
#include "../io/stream.h"
#include "../io/version.h"
#include "viz.h"

#define EXIT_OK 0
#define EXIT_INTERNAL 1
#define EXIT_BADINPUT 2

#define DEFAULT_W 1280
#define DEFAULT_H 800
#define MIN_W 640
#define MIN_H 400
#define PLAY_EVENTS_PER_FRAME 200000u   /* engine events one frame may fire while playing */
#define AT_END UINT64_MAX

struct opts {
    struct viz_opts vo;
    const char *shot;                   /* --screenshot FILE */
    cycles_t at;                        /* --at; AT_END for "end" */
    double at_frac;                     /* --at NN%: fraction of the run, or < 0 */
    bool have_at;
    int w, h;                           /* --size */
    cycles_t span;                      /* --span; 0: default */
    double speed;                       /* --speed; 0: default */
    bool paused;                        /* --paused */
    bool help;                          /* --show-help */
    int scale;                          /* --scale; 0: 1 */
    int hover_x, hover_y;               /* --hover X,Y */
};

static int exit_code(int rc)
{
    switch (rc) {
    case SIM_OK:        return EXIT_OK;
    case SIM_ENOMEM:
    case SIM_EINTERNAL: return EXIT_INTERNAL;
    default:            return EXIT_BADINPUT;
    }
}

static int fail(int code, const char *msg)
{
    fprintf(stderr, "tlbviz: %s\n", msg);
    return code;
}

static void usage(FILE *f)
{
    fputs("usage: tlbviz TRACE [options]\n"
          "\n"
          "Watch TLB shootdowns: runs TRACE through the same simulation as `tlbsim run`\n"
          "and shows, per CPU, what it runs (user mm, kernel thread, lazy, idle, in the\n"
          "flush IPI handler, walking, spinning for acks), its TLB occupancy, the IPIs in\n"
          "flight, the flushes and the trace's marks.  Press h in the window for the keys.\n"
          "\n"
          "  -m, --machine FILE|NAME    machine model (default: models/skylake-sp.json)\n"
          "  -p, --policy NAME          flush policy (default: linux; `tlbsim policies`)\n"
          "  -s, --set KEY=VALUE        override one model key (repeatable), as tlbsim run\n"
          "      --screenshot FILE      render one frame without a display and write it\n"
          "                             (PNG, or BMP when FILE ends in .bmp), then exit\n"
          "      --at CYCLE             the cycle to show: a number, NN% of the run, or\n"
          "                             `end` (screenshot default: end; window: 0)\n"
          "      --size WxH             window / screenshot size (default 1280x800)\n"
          "      --span CYCLES          width of the lane chart in cycles (default: fitted\n"
          "                             to the trace, see docs/tlbviz.md)\n"
          "      --speed CYCLES         playing speed in cycles per second (default:\n"
          "                             the whole run in about a minute)\n"
          "      --scale N              text scale 1-4 (default 1), as far as the window\n"
          "                             or --size fits it: 640x400 pixels per step\n"
          "      --paused               open the window paused\n"
          "      --show-help            draw the keyboard help (screenshots)\n"
          "      --hover X,Y            draw the tooltip for that point (screenshots)\n"
          "  -q, --quiet                no progress on stderr\n"
          "  -h, --help                 this text\n"
          "      --version              the version\n"
          "\n"
          "TRACE may be compressed (.gz, .xz, .zst, detected by content) or `-` for\n"
          "stdin (copied to a temporary file first: the viewer reads it again).\n"
          "Colours, keys and details: docs/tlbviz.md.  Exit status: 0 ok, 2 bad input or\n"
          "usage, 1 internal error or no display.\n", f);
}

/* ==== options ================================================================================ */

static bool parse_u64(const char *s, u64 *out)
{
    char *end;

    if (!*s || *s == '-' || *s == '+')
        return false;
    errno = 0;
    *out = strtoull(s, &end, 0);
    return !errno && !*end;
}

static int parse_at(struct opts *o, const char *s)
{
    size_t n = strlen(s);
    char *end;

    o->have_at = true;
    o->at_frac = -1;
    if (!strcmp(s, "end")) {
        o->at = AT_END;
        return 0;
    }
    if (n > 1 && s[n - 1] == '%') {
        double f = strtod(s, &end);
        if (end == s + n - 1 && f >= 0 && f <= 100) {
            o->at_frac = f / 100.0;
            return 0;
        }
    } else if (parse_u64(s, &o->at)) {
        return 0;
    }
    fprintf(stderr, "tlbviz: --at: expected a cycle number, NN%% or `end`, got '%s'\n", s);
    return EXIT_BADINPUT;
}

static int parse_pair(const char *opt, const char *s, char sep, int min_a, int min_b,
                      int *a, int *b)
{
    char *end;
    long x, y;

    errno = 0;
    x = strtol(s, &end, 10);
    if (end == s || *end != sep)
        goto bad;
    y = strtol(end + 1, &end, 10);
    if (errno || *end || x < min_a || y < min_b || x > 16384 || y > 16384)
        goto bad;
    *a = (int)x;
    *b = (int)y;
    return 0;
bad:
    fprintf(stderr, "tlbviz: %s: expected %s%c%s (at least %d%c%d), got '%s'\n", opt,
            sep == 'x' ? "W" : "X", sep, sep == 'x' ? "H" : "Y", min_a, sep, min_b, s);
    return EXIT_BADINPUT;
}

static int parse_policy(struct opts *o, const char *name)
{
    if (!flush_policy_find(name)) {
        fprintf(stderr, "tlbviz: --policy: unknown policy '%s' (see `tlbsim policies`)\n", name);
        return EXIT_BADINPUT;
    }
    o->vo.policy = name;
    return 0;
}

static int parse_set(struct opts *o, const char *kv)
{
    if (o->vo.nr_sets == VIZ_MAX_SETS)
        return fail(EXIT_BADINPUT, "--set: too many overrides");
    o->vo.sets[o->vo.nr_sets++] = kv;
    return 0;
}

/* --span and --speed: a positive number of cycles. */
static int parse_cycles(const char *opt, const char *s, u64 *out)
{
    if (parse_u64(s, out) && *out)
        return 0;
    fprintf(stderr, "tlbviz: --%s: expected a positive integer, got '%s'\n", opt, s);
    return EXIT_BADINPUT;
}

/* One option from getopt_long: 0, EXIT_BADINPUT, or -EXIT_OK - 1 after
 * --help or --version (exit 0 without running). */
static int parse_opt(int c, const char *arg, const char *word, struct opts *o)
{
    u64 v;

    switch (c) {
    case 'm': o->vo.machine = arg; return 0;
    case 'p': return parse_policy(o, arg);
    case 's': return parse_set(o, arg);
    case 'S': o->shot = arg; return 0;
    case 'A': return parse_at(o, arg) ? EXIT_BADINPUT : 0;
    case 'Z': return parse_pair("--size", arg, 'x', MIN_W, MIN_H, &o->w, &o->h) ? EXIT_BADINPUT : 0;
    case 'O': return parse_pair("--hover", arg, ',', 0, 0, &o->hover_x, &o->hover_y) ? EXIT_BADINPUT : 0;
    case 'W':
        if (parse_cycles("span", arg, &v))
            return EXIT_BADINPUT;
        o->span = v;
        return 0;
    case 'V':
        if (parse_cycles("speed", arg, &v))
            return EXIT_BADINPUT;
        o->speed = (double)v;
        return 0;
    case 'C':
        if (!parse_u64(arg, &v) || v < 1 || v > VIZ_MAX_SCALE) {
            fprintf(stderr, "tlbviz: --scale: expected 1 to %d, got '%s'\n", VIZ_MAX_SCALE, arg);
            return EXIT_BADINPUT;
        }
        o->scale = (int)v;
        return 0;
    case 'P': o->paused = true; return 0;
    case 'H': o->help = true; return 0;
    case 'q': o->vo.quiet = true; return 0;
    case 'h': usage(stdout); return -EXIT_OK - 1;
    case 'X': printf("tlbviz %s\n", sim_version()); return -EXIT_OK - 1;
    case ':':
        fprintf(stderr, "tlbviz: %s: missing value (see tlbviz --help)\n", word);
        return EXIT_BADINPUT;
    default:
        fprintf(stderr, "tlbviz: %s: unknown option (see tlbviz --help)\n", word);
        return EXIT_BADINPUT;
    }
}

/* Options into *o.  Returns 0 to run, EXIT_BADINPUT, or -EXIT_OK - 1 when
 * --help was printed. */
static int parse_args(int argc, char **argv, struct opts *o)
{
    static const struct option lopts[] = {
        { "machine", required_argument, 0, 'm' }, { "policy", required_argument, 0, 'p' },
        { "set", required_argument, 0, 's' }, { "screenshot", required_argument, 0, 'S' },
        { "at", required_argument, 0, 'A' }, { "size", required_argument, 0, 'Z' },
        { "span", required_argument, 0, 'W' }, { "speed", required_argument, 0, 'V' },
        { "paused", no_argument, 0, 'P' }, { "show-help", no_argument, 0, 'H' },
        { "hover", required_argument, 0, 'O' }, { "quiet", no_argument, 0, 'q' },
        { "help", no_argument, 0, 'h' }, { "scale", required_argument, 0, 'C' },
        { "version", no_argument, 0, 'X' }, { 0, 0, 0, 0 },
    };
    int c, rc;

    *o = (struct opts){ .w = DEFAULT_W, .h = DEFAULT_H, .hover_x = -1, .hover_y = -1,
                        .at_frac = -1 };
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:p:s:qh", lopts, NULL)) != -1)
        if ((rc = parse_opt(c, optarg, argv[optind - 1], o)))
            return rc;
    if (optind != argc - 1)
        return fail(EXIT_BADINPUT, optind >= argc ? "missing TRACE (see tlbviz --help)"
                                                  : "exactly one TRACE expected");
    o->vo.trace = argv[optind];
    struct sim_err err = { 0 };
    if (!strcmp(o->vo.trace, "-") && stream_spool_stdin(NULL, &err))
        return fail(EXIT_BADINPUT, err.msg);
    if (o->shot && !*o->shot)
        return fail(EXIT_BADINPUT, "--screenshot: empty file name");
    return 0;
}

static cycles_t start_cycle(const struct opts *o, const struct viz *v, cycles_t dflt)
{
    if (!o->have_at)
        return dflt;
    if (o->at_frac >= 0)
        return (cycles_t)(o->at_frac * (double)viz_end(v));
    return o->at == AT_END ? viz_end(v) : o->at;
}

static void view_init(const struct opts *o, const struct viz *v, struct viz_view *view)
{
    viz_view_default(v, view);
    if (o->span)
        view->span = o->span;
    if (o->speed > 0)
        view->speed = o->speed;
    view->help = o->help;
    view->scale = o->scale ? o->scale : 1;
    view->hover_x = o->hover_x;
    view->hover_y = o->hover_y;
}

/* ==== saving frames ============================================================================ */

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcasecmp(s + n - m, suffix);
}

static int save_frame(const char *path, const struct viz_fb *fb, struct sim_err *err)
{
    if (!ends_with(path, ".bmp"))
        return viz_png_write(path, fb, err);
    SDL_Surface *s = SDL_CreateRGBSurfaceWithFormatFrom(fb->px, fb->w, fb->h, 32, fb->w * 4,
                                                        SDL_PIXELFORMAT_RGB888);
    if (!s)
        return sim_err_set(err, SIM_ENOMEM, "%s: %s", path, SDL_GetError());
    int rc = SDL_SaveBMP(s, path);
    SDL_FreeSurface(s);
    if (rc)
        return sim_err_set(err, SIM_EIO, "%s: cannot write: %s", path, SDL_GetError());
    return SIM_OK;
}

static int headless(const struct opts *o)
{
    struct sim_err err = { 0 };
    struct viz_view view;
    struct viz_fb fb = { 0 };
    struct viz *v;
    int rc;

    if ((rc = viz_open(&o->vo, &v, &err)))
        return fail(exit_code(rc), err.msg);
    if ((rc = viz_seek(v, start_cycle(o, v, viz_end(v)), &err)) ||
        (rc = viz_fb_init(&fb, o->w, o->h))) {
        if (!err.msg[0])
            sim_err_set(&err, rc, "out of memory");
        goto out;
    }
    view_init(o, v, &view);
    viz_ensure_history(v, viz_time(v) > view.span ? viz_time(v) - view.span : 0, &err);
    viz_render(v, &view, &fb);
    if ((rc = save_frame(o->shot, &fb, &err)))
        goto out;
    if (!o->vo.quiet)
        printf("tlbviz: wrote %s (%dx%d, cycle %" PRIu64 " of %" PRIu64 ", policy %s)\n",
               o->shot, fb.w, fb.h, viz_time(v), viz_end(v), viz_policy(v));
out:
    viz_fb_free(&fb);
    viz_close(v);
    return rc ? fail(exit_code(rc), err.msg) : EXIT_OK;
}

/* ==== the window ================================================================================= */

struct win {
    SDL_Window *w;
    SDL_Renderer *r;
    SDL_Texture *tex;
    struct viz_fb fb;
    struct viz *v;
    struct viz_view view;
    char status[SIM_ERR_MSG + 64];
    Uint64 status_until;                /* SDL_GetTicks64 */
    bool dragging, quit;
    int seek_x;                         /* pending drag seek, -1 none */
};

static int win_resize(struct win *g, int w, int h)
{
    if (w < 64 || h < 64)
        return SIM_OK;
    if (g->fb.px && g->fb.w == w && g->fb.h == h)
        return SIM_OK;
    viz_fb_free(&g->fb);
    if (g->tex)
        SDL_DestroyTexture(g->tex);
    g->tex = SDL_CreateTexture(g->r, SDL_PIXELFORMAT_RGB888, SDL_TEXTUREACCESS_STREAMING, w, h);
    if (!g->tex)
        return SIM_ENOMEM;
    return viz_fb_init(&g->fb, w, h);
}

static void present(struct win *g)
{
    g->view.status = SDL_GetTicks64() < g->status_until ? g->status : NULL;
    viz_render(g->v, &g->view, &g->fb);
    SDL_UpdateTexture(g->tex, NULL, g->fb.px, g->fb.w * 4);
    SDL_RenderClear(g->r);
    SDL_RenderCopy(g->r, g->tex, NULL, NULL);
    SDL_RenderPresent(g->r);
}

static void say(struct win *g, const char *msg)
{
    snprintf(g->status, sizeof(g->status), "%s", msg);
    g->status_until = SDL_GetTicks64() + 2500;
}

/* Seek, telling the user first when it means re-simulating from 0. */
static void win_seek(struct win *g, cycles_t t)
{
    struct sim_err err = { 0 };

    if (t < viz_time(g->v)) {
        say(g, "re-simulating from cycle 0...");
        present(g);
        g->status_until = 0;
    }
    if (viz_seek(g->v, t, &err)) {
        say(g, err.msg);
        g->view.playing = false;
    }
}

static void win_policy(struct win *g, int dir)
{
    struct sim_err err = { 0 };
    size_t i;
    char msg[160];

    for (i = 0; i < flush_nr_policies; i++)
        if (!strcmp(flush_policies[i].name, viz_policy(g->v)))
            break;
    i = (i + flush_nr_policies + (size_t)dir) % flush_nr_policies;
    snprintf(msg, sizeof(msg), "policy %s: re-simulating...", flush_policies[i].name);
    say(g, msg);
    present(g);
    if (viz_set_policy(g->v, flush_policies[i].name, &err)) {
        say(g, err.msg);
        return;
    }
    snprintf(msg, sizeof(msg), "policy: %s", flush_policies[i].name);
    say(g, msg);
}

/* A new lane chart width, with the history it needs. */
static void win_span(struct win *g, cycles_t span)
{
    struct sim_err err = { 0 };
    cycles_t max = viz_end(g->v) * 2 + 1000;

    if (span < 64)
        span = 64;
    if (span > max)
        span = max;
    g->view.span = span;
    if (viz_ensure_history(g->v, viz_time(g->v) > span ? viz_time(g->v) - span : 0, &err))
        say(g, err.msg);
}

static void win_zoom(struct win *g, bool out)
{
    win_span(g, out ? g->view.span * 2 : g->view.span / 2);
}

/* Next / previous flush request, with the lane chart around it. */
static void win_flush(struct win *g, int dir)
{
    struct sim_err err = { 0 };
    int rc;

    if (dir < 0) {
        say(g, "re-simulating from cycle 0...");
        present(g);
        g->status_until = 0;
    }
    g->view.playing = false;
    rc = viz_seek_flush(g->v, g->view.span, dir, &err);
    if (rc < 0)
        say(g, err.msg);
    else if (rc == 0)
        say(g, dir > 0 ? "no flush request after this one" : "no flush request before this one");
    else
        win_span(g, g->view.span);
}

/* Text scale up or down, as far as the window fits it. */
static void win_scale(struct win *g, int d)
{
    char msg[96];
    int want = g->view.scale + d, got;

    if (want < 1 || want > VIZ_MAX_SCALE)
        return;
    got = viz_fit_scale(want, g->fb.w, g->fb.h);
    g->view.scale = want;
    if (got < want)
        snprintf(msg, sizeof(msg), "text scale %d needs a %dx%d window: showing %d", want,
                 640 * want, 400 * want, got);
    else
        snprintf(msg, sizeof(msg), "text scale %d", want);
    say(g, msg);
}

/* Back to the fitted span and speed. */
static void win_fit(struct win *g)
{
    g->view.speed = viz_default_speed(g->v);
    win_span(g, viz_default_span(g->v));
    say(g, "fitted span and speed");
}

static void win_shot(struct win *g)
{
    struct sim_err err = { 0 };
    char path[64], msg[SIM_ERR_MSG + 64];

    snprintf(path, sizeof(path), "tlbviz-%" PRIu64 ".png", viz_time(g->v));
    if (save_frame(path, &g->fb, &err))
        snprintf(msg, sizeof(msg), "%s", err.msg);
    else
        snprintf(msg, sizeof(msg), "saved %s", path);
    say(g, msg);
}

static void scroll_lanes(struct win *g, int d)
{
    u32 vis = viz_visible_lanes(g->v, &g->view, &g->fb), n = viz_nr_cpus(g->v);
    long f = (long)g->view.first_lane + d;

    if (f < 0 || vis >= n)
        f = 0;
    if (vis < n && f > (long)(n - vis))
        f = (long)(n - vis);
    g->view.first_lane = (u32)f;
}

static void on_key(struct win *g, const SDL_KeyboardEvent *k)
{
    struct sim_err err = { 0 };
    cycles_t t = viz_time(g->v), q = g->view.span / 4 ? g->view.span / 4 : 1;
    bool shift = k->keysym.mod & KMOD_SHIFT, ctrl = k->keysym.mod & KMOD_CTRL;

    switch (k->keysym.sym) {
    case SDLK_SPACE:
        if (!g->view.playing && t >= viz_end(g->v))
            win_seek(g, 0);
        g->view.playing = !g->view.playing;
        break;
    case SDLK_s:
    case SDLK_PERIOD:
        g->view.playing = false;
        if (viz_step(g->v, &err) < 0)
            say(g, err.msg);
        break;
    case SDLK_PLUS:
    case SDLK_KP_PLUS:
    case SDLK_EQUALS:
        if (ctrl)
            win_scale(g, 1);
        else if (g->view.speed < 1e12)
            g->view.speed *= 2;
        break;
    case SDLK_MINUS:
    case SDLK_KP_MINUS:
        if (ctrl)
            win_scale(g, -1);
        else if (g->view.speed > 1)
            g->view.speed /= 2;
        break;
    case SDLK_t:            win_scale(g, shift ? -1 : 1); break;
    case SDLK_RIGHTBRACKET: win_zoom(g, true); break;
    case SDLK_LEFTBRACKET:  win_zoom(g, false); break;
    case SDLK_z:            win_zoom(g, shift); break;
    case SDLK_0:            win_fit(g); break;
    case SDLK_f:            win_flush(g, shift ? -1 : 1); break;
    case SDLK_RIGHT:        win_seek(g, t + q); break;
    case SDLK_LEFT:         win_seek(g, t > q ? t - q : 0); break;
    case SDLK_HOME:         win_seek(g, 0); break;
    case SDLK_END:          win_seek(g, viz_end(g->v)); break;
    case SDLK_p:            win_policy(g, shift ? -1 : 1); break;
    case SDLK_UP:           scroll_lanes(g, -1); break;
    case SDLK_DOWN:         scroll_lanes(g, 1); break;
    case SDLK_h:
    case SDLK_F1:
    case SDLK_QUESTION:     g->view.help = !g->view.help; break;
    case SDLK_F12:          win_shot(g); break;
    case SDLK_ESCAPE:
        if (g->view.help)
            g->view.help = false;
        else
            g->quit = true;
        break;
    case SDLK_q:            g->quit = true; break;
    default:                break;
    }
}

static bool in_strip(struct win *g, int x, int y)
{
    struct viz_rect r;

    viz_timeline_rect(g->v, &g->view, &g->fb, &r);
    return x >= r.x && x < r.x + r.w && y >= r.y && y < r.y + r.h;
}

static void on_event(struct win *g, const SDL_Event *e)
{
    switch (e->type) {
    case SDL_QUIT:
        g->quit = true;
        break;
    case SDL_KEYDOWN:
        on_key(g, &e->key);
        break;
    case SDL_MOUSEMOTION:
        g->view.hover_x = e->motion.x;
        g->view.hover_y = e->motion.y;
        if (g->dragging)
            g->seek_x = e->motion.x;
        break;
    case SDL_MOUSEBUTTONDOWN:
        if (e->button.button == SDL_BUTTON_LEFT && in_strip(g, e->button.x, e->button.y)) {
            g->dragging = true;
            g->seek_x = e->button.x;
        }
        break;
    case SDL_MOUSEBUTTONUP:
        g->dragging = false;
        break;
    case SDL_MOUSEWHEEL:
        scroll_lanes(g, e->wheel.y > 0 ? -1 : 1);
        break;
    case SDL_WINDOWEVENT:
        if (e->window.event == SDL_WINDOWEVENT_LEAVE)
            g->view.hover_x = g->view.hover_y = -1;
        else if (e->window.event == SDL_WINDOWEVENT_SIZE_CHANGED &&
                 win_resize(g, e->window.data1, e->window.data2))
            g->quit = true;
        break;
    default:
        break;
    }
}

/* Advance the clock by wall time while playing. */
static void play(struct win *g, double dt)
{
    struct sim_err err = { 0 };
    cycles_t t = viz_time(g->v), end = viz_end(g->v);
    double step = g->view.speed * dt;
    cycles_t target = t + (step < 1 ? 1 : (cycles_t)step);

    if (target >= end) {
        target = end;
        g->view.playing = false;
    }
    if (viz_advance(g->v, target, PLAY_EVENTS_PER_FRAME, &err)) {
        say(g, err.msg);
        g->view.playing = false;
    }
}

/* SDL falls back to its offscreen driver when there is no display, which
 * would run an invisible window forever: ask for a real display unless the
 * user chose a driver (SDL_VIDEODRIVER). */
static bool has_display(void)
{
    return getenv("SDL_VIDEODRIVER") || getenv("DISPLAY") || getenv("WAYLAND_DISPLAY");
}

static bool real_driver(void)
{
    const char *d = SDL_GetCurrentVideoDriver();

    if (getenv("SDL_VIDEODRIVER"))
        return true;
    if (d && (!strcmp(d, "offscreen") || !strcmp(d, "dummy"))) {
        SDL_SetError("no display (SDL chose its '%s' driver)", d);
        return false;
    }
    return true;
}

static int window(const struct opts *o)
{
    struct win g = { .seek_x = -1 };
    struct sim_err err = { 0 };
    char title[256];
    int rc = EXIT_OK;

    if (!has_display())
        return fail(EXIT_INTERNAL, "cannot open a window: no display (DISPLAY unset); "
                    "--screenshot FILE --at CYCLE works without one");
    if ((rc = viz_open(&o->vo, &g.v, &err)))
        return fail(exit_code(rc), err.msg);
    if ((rc = viz_seek(g.v, start_cycle(o, g.v, 0), &err))) {
        viz_close(g.v);
        return fail(exit_code(rc), err.msg);
    }
    view_init(o, g.v, &g.view);
    g.view.playing = !o->paused && !o->have_at;
    viz_ensure_history(g.v, viz_time(g.v) > g.view.span ? viz_time(g.v) - g.view.span : 0, &err);
    if (SDL_Init(SDL_INIT_VIDEO) || !real_driver()) {
        fprintf(stderr, "tlbviz: cannot open a window: %s; --screenshot FILE --at CYCLE "
                "works without one\n", SDL_GetError());
        if (SDL_WasInit(SDL_INIT_VIDEO))
            SDL_Quit();
        viz_close(g.v);
        return EXIT_INTERNAL;
    }
    snprintf(title, sizeof(title), "tlbviz - %s", o->vo.trace);
    g.w = SDL_CreateWindow(title, SDL_WINDOWPOS_CENTERED, SDL_WINDOWPOS_CENTERED, o->w, o->h,
                           SDL_WINDOW_RESIZABLE);
    if (g.w)
        g.r = SDL_CreateRenderer(g.w, -1, SDL_RENDERER_PRESENTVSYNC);
    if (g.w && !g.r)
        g.r = SDL_CreateRenderer(g.w, -1, SDL_RENDERER_SOFTWARE);
    if (!g.w || !g.r || win_resize(&g, o->w, o->h)) {
        fprintf(stderr, "tlbviz: cannot open a window: %s\n", SDL_GetError());
        rc = EXIT_INTERNAL;
        goto out;
    }
    SDL_SetWindowMinimumSize(g.w, MIN_W, MIN_H);
    Uint64 last = SDL_GetPerformanceCounter();
    while (!g.quit) {
        SDL_Event e;
        while (SDL_PollEvent(&e))
            on_event(&g, &e);
        Uint64 now = SDL_GetPerformanceCounter();
        double dt = (double)(now - last) / (double)SDL_GetPerformanceFrequency();
        last = now;
        if (g.seek_x >= 0) {
            win_seek(&g, viz_timeline_time(g.v, &g.view, &g.fb, g.seek_x));
            g.seek_x = -1;
        }
        if (g.view.playing)
            play(&g, dt > 0.1 ? 0.1 : dt);
        present(&g);
        SDL_Delay(g.view.playing ? 1 : 12);
    }
out:
    viz_fb_free(&g.fb);
    if (g.tex)
        SDL_DestroyTexture(g.tex);
    if (g.r)
        SDL_DestroyRenderer(g.r);
    if (g.w)
        SDL_DestroyWindow(g.w);
    SDL_Quit();
    viz_close(g.v);
    return rc;
}

int main(int argc, char **argv)
{
    struct opts o;
    int rc = parse_args(argc, argv, &o);

    if (rc < 0)
        return -rc - 1;
    if (rc)
        return rc;
    return o.shot ? headless(&o) : window(&o);
}
