/* tests/integration/shim_checks.c — the libtorch shim's deferred checks
 * (ts_checks, issue #37 item 3) against its immediate ones: the same
 * status and message for an out-of-range label and for NaN gradients, read
 * once; the same gradients bit for bit when the input is good; no sync when
 * nothing is pending. Usage: shim_checks GOOD.pt NANGRAD.pt (models of
 * 3x4x4 inputs and 5 classes, made by shim_checks.sh). */
#include <stdio.h>
#include <string.h>

#include "torch_shim.h"

#define N_X (4 * 3 * 4 * 4) /* 4 inputs of 3x4x4 */

static int fails;

static void expect(int ok, const char *what) {
    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    fails += !ok;
}

/* Gradient of `objective` on 4 fixed inputs with these labels, immediate
 * (checks NULL) or into c; its status, its message and the gradient. */
static int grad_of(ts_module *m, const int64_t *lab, int objective, ts_checks *c, float *g_out, char *msg) {
    static float xd[N_X];
    for (int i = 0; i < N_X; i++) xd[i] = (float)((i * 37) % 101) / 101.0f - 0.5f;
    int64_t s4[4] = {4, 3, 4, 4}, s1[1] = {4};
    ts_tensor *x = NULL, *y = NULL, *g = NULL;
    int rc = ts_from_f32(xd, s4, 4, TS_DEV_CPU, &x);
    if (rc == TS_OK) rc = ts_from_i64(lab, s1, 1, TS_DEV_CPU, &y);
    if (rc == TS_OK) rc = ts_objective_grad(m, x, y, objective, &g, NULL, c);
    snprintf(msg, 256, "%s", rc ? ts_last_error() : "");
    if (rc == TS_OK && g_out) rc = ts_to_f32(g, g_out, N_X);
    ts_tensor_free(x);
    ts_tensor_free(y);
    ts_tensor_free(g);
    return rc;
}

int main(int argc, char **argv) {
    ts_module *good = NULL, *nan = NULL;
    ts_checks *c = NULL;
    if (argc != 3 || ts_module_load(argv[1], TS_DEV_CPU, &good) || ts_module_load(argv[2], TS_DEV_CPU, &nan) ||
        ts_checks_new(&c)) {
        fprintf(stderr, "usage: shim_checks GOOD.pt NANGRAD.pt (%s)\n", ts_last_error());
        return 2;
    }
    const int64_t ok_lab[4] = {0, 4, 2, 1}, bad_lab[4] = {0, 5, 2, 1};
    static float g_now[N_X], g_dev[N_X];
    char m_now[256], m_dev[256];
    for (int obj = TS_OBJ_LOGIT; obj <= TS_OBJ_CONTRAST; obj++) {
        int r_now = grad_of(good, bad_lab, obj, NULL, NULL, m_now);
        int r_call = grad_of(good, bad_lab, obj, c, NULL, m_dev); /* computes on, clamped */
        int r_read = ts_checks_read(c);
        snprintf(m_dev, sizeof m_dev, "%s", ts_last_error());
        expect(r_now == TS_ESHAPE && r_call == TS_OK && r_read == TS_ESHAPE && !strcmp(m_now, m_dev) &&
                   strstr(m_now, "a label is outside the model's 5 classes"),
               "label 5 of 5 classes: the immediate check's status and message, from one read");
        r_now = grad_of(good, ok_lab, obj, NULL, g_now, m_now);
        r_call = grad_of(good, ok_lab, obj, c, g_dev, m_dev);
        r_read = ts_checks_read(c);
        expect(r_now == TS_OK && r_call == TS_OK && r_read == TS_OK && !memcmp(g_now, g_dev, sizeof g_now),
               "good labels: the same gradients bit for bit, the read says TS_OK");
    }
    int r_now = grad_of(nan, ok_lab, TS_OBJ_LOGIT, NULL, NULL, m_now);
    int r_call = grad_of(nan, ok_lab, TS_OBJ_LOGIT, c, NULL, m_dev);
    int r_read = ts_checks_read(c);
    snprintf(m_dev, sizeof m_dev, "%s", ts_last_error());
    expect(r_now == TS_ENOTFINITE && r_call == TS_OK && r_read == TS_ENOTFINITE && !strcmp(m_now, m_dev) &&
               strstr(m_now, "NaN or Inf input gradients"),
           "NaN gradients: the immediate check's status and message, from one read");
    struct ts_ledger l0, l1;
    ts_ledger_read(&l0);
    r_read = ts_checks_read(c);
    ts_ledger_read(&l1);
    expect(r_read == TS_OK && l1.syncs == l0.syncs, "a read with nothing pending: TS_OK, no sync");
    ts_checks_free(c);
    ts_module_free(good);
    ts_module_free(nan);
    return fails ? 1 : 0;
}
