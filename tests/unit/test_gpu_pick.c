/* One GPU per rank from CUDA_VISIBLE_DEVICES and the node-local rank. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "gpu_pick.h"

static void test_pick(void **state) {
    (void)state;
    char out[64];
    assert_int_equal(gpu_pick(NULL, 0, 1, out, sizeof out), 0); /* alone on the node */
    assert_int_equal(gpu_pick(NULL, 3, 4, out, sizeof out), 1); /* unset: by local rank */
    assert_string_equal(out, "3");
    assert_int_equal(gpu_pick("2", 1, 4, out, sizeof out), 0);       /* Slurm gave this task one */
    assert_int_equal(gpu_pick("4,5,6,7", 2, 4, out, sizeof out), 1); /* a shared list */
    assert_string_equal(out, "6");
    assert_int_equal(gpu_pick("GPU-aa,GPU-bb", 1, 2, out, sizeof out), 1); /* UUIDs */
    assert_string_equal(out, "GPU-bb");
    assert_int_equal(gpu_pick("GPU-aa,GPU-bb", 3, 4, out, sizeof out), -1); /* 4 ranks on 2 GPUs: an error */
    assert_int_equal(gpu_pick("0,1,2", 0, 4, out, sizeof out), -1);
    assert_int_equal(gpu_pick("0,,1", 1, 2, out, sizeof out), 1); /* empty entries skipped */
    assert_string_equal(out, "1");
    assert_int_equal(gpu_pick("", 1, 2, out, sizeof out), 0); /* "" hides every GPU */
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_pick)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
