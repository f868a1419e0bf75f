// eigen_rnn.cpp - a hand-optimised C++/Eigen LSTM/GRU step, the second yardstick of issue 6
// ("faster than hand-optimised C++/Eigen"), written the way RTNeural's Eigen backend computes a
// step: the gate kernels as Eigen matrices of shape (gates * H, F) and (gates * H, H), each product
// one Eigen matrix-vector product (its own vectorised GEMV kernel, all gates at once), the
// activations as Eigen array expressions (vectorised logistic and tanh). Own code, not RTNeural's.
//
// To be fair to Eigen, every run times each formulation available for the layer's shape and reports
// the fastest: dynamic sizes with column-major weights (Eigen's default; any shape), and, for the
// benchmark's shapes (F=32 H=64, F=128 H=128: RTNeural's compile-time API is the same idea),
// fixed sizes with column-major and with row-major weights, each after one untimed (warm-up)
// sequence. Which one won goes to stderr.
//
// Same command line, weight file and output as ../shared/bench/ref_rnn.c, so kerasc.bench drives both:
//   eigen_rnn lstm|gru F H weights.bin inputs.bin T reps  -> prints ns/step and the last h
// Weights: the layer's get_weights() concatenated (Keras layout: kernel [F][G*H], recurrent
// [H][G*H], bias [G*H] or, GRU reset_after, [2][3H]; gates i,f,c,o / z,r,h).
//
//   g++ -std=c++17 -O3 -march=native -DNDEBUG -I/usr/include/eigen3 eigen_rnn.cpp -o eigen_rnn
#define EIGEN_STACK_ALLOCATION_LIMIT 0  // fixed-size LSTM(128) kernels (256 KB) live on the heap here
#include <Eigen/Dense>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

constexpr int Dyn = Eigen::Dynamic;
using ColMat = Eigen::Matrix<float, Dyn, Dyn>;
using Vec = Eigen::Matrix<float, Dyn, 1>;

constexpr int times(int g, int n) { return n == Dyn ? Dyn : g * n; }

// A Keras kernel [rows][cols] (row-major) read column-major is the (cols, rows) matrix W^T: exactly
// the matrix that multiplies x in z = W^T x.
ColMat keras_kernel(const float *p, int rows, int cols) { return Eigen::Map<const ColMat>(p, cols, rows); }

class Step {
public:
    virtual ~Step() = default;
    virtual void reset() = 0;
    virtual void step(const float *x) = 0;
    virtual Vec state() const = 0;
};

template <int F, int H, int Order>
class Lstm : public Step {
    Eigen::Matrix<float, times(4, H), F, Order> W;
    Eigen::Matrix<float, times(4, H), H, Order> U;
    Eigen::Matrix<float, times(4, H), 1> b, z;
    Eigen::Matrix<float, H, 1> h, c;
    int n_x, n;

public:
    Lstm(const float *w, int f, int units) : n_x(f), n(units)
    {
        W = keras_kernel(w, f, 4 * units);
        U = keras_kernel(w + (size_t)f * 4 * units, units, 4 * units);
        b = Eigen::Map<const Vec>(w + (size_t)(f + units) * 4 * units, 4 * units);
        z.resize(4 * units);
        h.resize(units);
        c.resize(units);
        reset();
    }
    void reset() override
    {
        h.setZero();
        c.setZero();
    }
    void step(const float *x_t) override
    {
        const Eigen::Map<const Eigen::Matrix<float, F, 1>> x(x_t, n_x);
        z.noalias() = W * x;
        z.noalias() += U * h;
        z += b;
        const auto i = z.segment(0, n).array().logistic();
        const auto f = z.segment(n, n).array().logistic();
        const auto g = z.segment(2 * n, n).array().tanh();
        const auto o = z.segment(3 * n, n).array().logistic();
        c.array() = f * c.array() + i * g;
        h.array() = o * c.array().tanh();
    }
    Vec state() const override { return h; }
};

// GRU with reset_after=True (Keras' default): bias [2][3H] = input bias, recurrent bias.
template <int F, int H, int Order>
class Gru : public Step {
    Eigen::Matrix<float, times(3, H), F, Order> W;
    Eigen::Matrix<float, times(3, H), H, Order> U;
    Eigen::Matrix<float, times(3, H), 1> bx, bh, zx, zh;
    Eigen::Matrix<float, H, 1> h;
    int n_x, n;

public:
    Gru(const float *w, int f, int units) : n_x(f), n(units)
    {
        W = keras_kernel(w, f, 3 * units);
        U = keras_kernel(w + (size_t)f * 3 * units, units, 3 * units);
        bx = Eigen::Map<const Vec>(w + (size_t)(f + units) * 3 * units, 3 * units);
        bh = Eigen::Map<const Vec>(w + (size_t)(f + units) * 3 * units + 3 * units, 3 * units);
        zx.resize(3 * units);
        zh.resize(3 * units);
        h.resize(units);
        reset();
    }
    void reset() override { h.setZero(); }
    void step(const float *x_t) override
    {
        const Eigen::Map<const Eigen::Matrix<float, F, 1>> x(x_t, n_x);
        zx.noalias() = W * x;
        zx += bx;
        zh.noalias() = U * h;
        zh += bh;
        const auto zg = (zx.segment(0, n) + zh.segment(0, n)).array().logistic();
        const auto r = (zx.segment(n, n) + zh.segment(n, n)).array().logistic();
        const auto hh = (zx.segment(2 * n, n).array() + r * zh.segment(2 * n, n).array()).tanh();
        h.array() = zg * h.array() + (1.0f - zg) * hh;
    }
    Vec state() const override { return h; }
};

template <template <int, int, int> class Layer>
std::vector<std::pair<std::string, std::unique_ptr<Step>>> variants(const float *w, int F, int H)
{
    std::vector<std::pair<std::string, std::unique_ptr<Step>>> out;
    out.emplace_back("dynamic, column-major", std::make_unique<Layer<Dyn, Dyn, Eigen::ColMajor>>(w, F, H));
    if (F == 32 && H == 64) {
        out.emplace_back("fixed, column-major", std::make_unique<Layer<32, 64, Eigen::ColMajor>>(w, F, H));
        out.emplace_back("fixed, row-major", std::make_unique<Layer<32, 64, Eigen::RowMajor>>(w, F, H));
    } else if (F == 128 && H == 128) {
        out.emplace_back("fixed, column-major", std::make_unique<Layer<128, 128, Eigen::ColMajor>>(w, F, H));
        out.emplace_back("fixed, row-major", std::make_unique<Layer<128, 128, Eigen::RowMajor>>(w, F, H));
    }
    return out;
}

double time_steps(Step &layer, const std::vector<float> &x, int F, int T, long reps)
{
    const auto t0 = std::chrono::steady_clock::now();
    for (long r = 0; r < reps; ++r) {
        layer.reset();
        for (int t = 0; t < T; ++t) {
            layer.step(x.data() + (size_t)t * F);
        }
    }
    const std::chrono::duration<double, std::nano> dt = std::chrono::steady_clock::now() - t0;
    return dt.count() / ((double)reps * T);
}

bool read_floats(const char *path, std::vector<float> &out)
{
    FILE *f = std::fopen(path, "rb");
    if (f == nullptr) {
        return false;
    }
    const size_t got = std::fread(out.data(), sizeof(float), out.size(), f);
    std::fclose(f);
    return got == out.size();
}

}  // namespace

int main(int argc, char **argv)
{
    if (argc < 8) {
        std::fprintf(stderr, "usage: %s lstm|gru F H weights.bin inputs.bin T reps\n", argv[0]);
        return 2;
    }
    const bool gru = std::strcmp(argv[1], "gru") == 0;
    const int F = std::atoi(argv[2]), H = std::atoi(argv[3]), T = std::atoi(argv[6]);
    const long reps = std::atol(argv[7]);
    const int G = gru ? 3 : 4;
    if (F < 1 || H < 1 || T < 1 || reps < 1) {
        std::fprintf(stderr, "F, H, T and reps must be positive\n");
        return 2;
    }
    std::vector<float> w((size_t)(F + H) * G * H + (size_t)(gru ? 2 : 1) * G * H), x((size_t)T * F);
    if (!read_floats(argv[4], w) || !read_floats(argv[5], x)) {
        std::fprintf(stderr, "cannot read the weights or inputs\n");
        return 2;
    }
    auto layers = gru ? variants<Gru>(w.data(), F, H) : variants<Lstm>(w.data(), F, H);
    double best = 1e300;
    Vec h;
    std::string winner;
    for (auto &[name, layer] : layers) {
        // One untimed sequence first: the other formulations' copies of the weights have pushed this
        // one's out of the caches, and the generated C's minimum over trials in one process is warm too.
        time_steps(*layer, x, F, T, 1);
        const double ns = time_steps(*layer, x, F, T, reps);
        if (ns < best) {
            best = ns;
            h = layer->state();
            winner = name;
        }
    }
    std::fprintf(stderr, "fastest Eigen formulation: %s\n", winner.c_str());
    std::printf("%.1f", best);
    for (int j = 0; j < H; ++j) {
        std::printf(" %.9g", h[j]);
    }
    std::printf("\n");
    return 0;
}
