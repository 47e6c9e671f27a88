/* radgrok: the backward of a ReLU whose input carries the radial penalty, in one pass.
 *
 *   out[i, j] = (z[i, j] > 0 ? g[i, j] : 0) + z[i, j] * coef[i * coef_stride]
 *
 * g is the gradient arriving at the ReLU's output, z its input (the penalised site), coef the
 * penalty's coefficient per row (coef_stride 1) or for the whole site (coef_stride 0). out may
 * be g itself: each element is read before it is written. Built by relu_kernel.py with
 * -march=native and FMA contraction, as torch's own kernels are for the CPU at hand, so that the
 * sum rounds as threshold_backward followed by addcmul does.
 */
#include <stdint.h>

#define RELU_GATE(NAME, T)                                                                     \
    void NAME(const T *g, const T *z, const T *coef, int64_t coef_stride, T *out, int64_t m,    \
              int64_t d, int threads) {                                                        \
        _Pragma("omp parallel for num_threads(threads) schedule(static)")                      \
        for (int64_t i = 0; i < m; i++) {                                                      \
            const T c = coef[i * coef_stride];                                                 \
            const T *gi = g + i * d, *zi = z + i * d;                                          \
            T *oi = out + i * d;                                                               \
            for (int64_t j = 0; j < d; j++) {                                                  \
                const T v = zi[j];                                                             \
                oi[j] = (v > (T)0 ? gi[j] : (T)0) + v * c;                                     \
            }                                                                                  \
        }                                                                                      \
    }

RELU_GATE(relu_gate_f32, float)
RELU_GATE(relu_gate_f64, double)
