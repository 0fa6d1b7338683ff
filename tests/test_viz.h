/* tests/test_viz.h - the helpers and traces of test_viz.c that
 * test_viz_png.c shares. */
#ifndef TLBSIM_TEST_VIZ_H
#define TLBSIM_TEST_VIZ_H

#include "../sim/viz/viz.h"

#define W 1280                          /* frame size of render() */
#define H 800

/* Write text into the test's scratch directory (h_tmp_path); returns the
 * path (4 rotating buffers). */
const char *write_file(const char *name, const char *text);

extern const char lazy_trace[];         /* CPU 1 goes lazy, CPU 0 unmaps */
extern const char ipi_trace[];          /* one IPI to CPU 1, CPU 2 skipped */
const char *skips_trace(void);          /* eight skips of one lazy CPU */

/* Open a trace given as text (asserts success). */
struct viz *open_trace(const char *text, const char *policy);
/* Render into a fresh W x H frame. */
void render(struct viz *v, const struct viz_view *view, struct viz_fb *fb);
/* Pixels of colour col inside r. */
u32  count_col(const struct viz_fb *fb, const struct viz_rect *r, u32 col);
/* Seek on until an IPI is in flight; false if the run ends first. */
bool step_to_ipi(struct viz *v);

#endif
