// eigen_rnn.cpp - a hand-optimised C++/Eigen LSTM/GRU step, the second yardstick of issue 6
// ("faster than hand-optimised C++/Eigen"), written the way RTNeural's Eigen backend computes a
// step: the gate matrices as Eigen matrices of shape (gates * H, F) and (gates * H, H), each product
// one Eigen matrix-vector product (its own vectorised GEMV kernel, all gates at once), the
// activations as Eigen array expressions (vectorised logistic and tanh). Own code, not RTNeural's.
//
// Same command line, weight file and output as ../shared/bench/ref_rnn.c, so kerasc.bench drives both:
//   eigen_rnn lstm|gru F H weights.bin inputs.bin T reps  -> prints ns/step and the last h
// Weights: the layer's get_weights() concatenated (Keras layout: kernel [F][G*H], recurrent
// [H][G*H], bias [G*H] or, GRU reset_after, [2][3H]; gates i,f,c,o / z,r,h).
//
//   g++ -std=c++17 -O3 -march=native -DNDEBUG -I/usr/include/eigen3 eigen_rnn.cpp -o eigen_rnn
#include <Eigen/Dense>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic>;  // column-major
using Vec = Eigen::Matrix<float, Eigen::Dynamic, 1>;

namespace {

// A Keras kernel [rows][cols] (row-major) is, read column-major, the (cols, rows) matrix W^T:
// exactly the matrix that multiplies x in z = W^T x.
Mat keras_kernel(const float *p, int rows, int cols)
{
    return Eigen::Map<const Mat>(p, cols, rows);
}

struct Lstm {
    int H;
    Mat W, U;  // (4H, F), (4H, H)
    Vec b, z, h, c;

    Lstm(const float *w, int F, int H_) : H(H_)
    {
        W = keras_kernel(w, F, 4 * H);
        U = keras_kernel(w + (size_t)F * 4 * H, H, 4 * H);
        b = Eigen::Map<const Vec>(w + (size_t)(F + H) * 4 * H, 4 * H);
        z.resize(4 * H);
        reset();
    }
    void reset()
    {
        h = Vec::Zero(H);
        c = Vec::Zero(H);
    }
    void step(const float *x_t)
    {
        const Eigen::Map<const Vec> x(x_t, W.cols());
        z.noalias() = W * x;
        z.noalias() += U * h;
        z += b;
        const auto i = z.segment(0, H).array().logistic();
        const auto f = z.segment(H, H).array().logistic();
        const auto g = z.segment(2 * H, H).array().tanh();
        const auto o = z.segment(3 * H, H).array().logistic();
        c.array() = f * c.array() + i * g;
        h.array() = o * c.array().tanh();
    }
};

// GRU with reset_after=True (Keras' default): bias [2][3H] = input bias, recurrent bias.
struct Gru {
    int H;
    Mat W, U;  // (3H, F), (3H, H)
    Vec bx, bh, zx, zh, h;

    Gru(const float *w, int F, int H_) : H(H_)
    {
        W = keras_kernel(w, F, 3 * H);
        U = keras_kernel(w + (size_t)F * 3 * H, H, 3 * H);
        bx = Eigen::Map<const Vec>(w + (size_t)(F + H) * 3 * H, 3 * H);
        bh = Eigen::Map<const Vec>(w + (size_t)(F + H) * 3 * H + 3 * H, 3 * H);
        zx.resize(3 * H);
        zh.resize(3 * H);
        reset();
    }
    void reset() { h = Vec::Zero(H); }
    void step(const float *x_t)
    {
        const Eigen::Map<const Vec> x(x_t, W.cols());
        zx.noalias() = W * x;
        zx += bx;
        zh.noalias() = U * h;
        zh += bh;
        const auto zg = (zx.segment(0, H) + zh.segment(0, H)).array().logistic();
        const auto r = (zx.segment(H, H) + zh.segment(H, H)).array().logistic();
        const auto hh = (zx.segment(2 * H, H).array() + r * zh.segment(2 * H, H).array()).tanh();
        h.array() = zg * h.array() + (1.0f - zg) * hh;
    }
};

template <class Layer>
double run(Layer &layer, const std::vector<float> &x, int F, int T, long reps)
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
    std::vector<float> w((size_t)(F + H) * G * H + (size_t)(gru ? 2 : 1) * G * H), x((size_t)T * F);
    if (F < 1 || H < 1 || T < 1 || reps < 1 || !read_floats(argv[4], w) || !read_floats(argv[5], x)) {
        std::fprintf(stderr, "cannot read the weights or inputs\n");
        return 2;
    }
    double ns;
    Vec h;
    if (gru) {
        Gru layer(w.data(), F, H);
        ns = run(layer, x, F, T, reps);
        h = layer.h;
    } else {
        Lstm layer(w.data(), F, H);
        ns = run(layer, x, F, T, reps);
        h = layer.h;
    }
    std::printf("%.1f", ns);
    for (int j = 0; j < H; ++j) {
        std::printf(" %.9g", h[j]);
    }
    std::printf("\n");
    return 0;
}
