// torch/aoti_model.cpp — see aoti_model.h.
#include "aoti_model.h"

#include <torch/torch.h>
#include <torch/version.h>

#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 6)
#define RECAL_HAVE_AOTI 1
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#endif

struct aoti_model {
#ifdef RECAL_HAVE_AOTI
    std::unique_ptr<torch::inductor::AOTIModelPackageLoader> loader;
#endif
    c10::Device dev{c10::kCPU};
    int64_t batch = 0, classes = 0;
    std::vector<int64_t> sample; // per-sample input shape, e.g. 3, 32, 32
    std::mutex mu;               // one call at a time: the runner keeps its buffers
};

#ifdef RECAL_HAVE_AOTI
static std::vector<int64_t> ints(const std::string &s) {
    std::vector<int64_t> v;
    size_t at = 0;
    while (at < s.size()) {
        size_t end = s.find(',', at);
        if (end == std::string::npos) end = s.size();
        v.push_back(std::stoll(s.substr(at, end - at)));
        at = end + 1;
    }
    return v;
}
#endif

std::shared_ptr<aoti_model> aoti_open(const std::string &path, c10::Device dev) {
#ifndef RECAL_HAVE_AOTI
    (void)dev;
    throw std::runtime_error(path + " is an AOTInductor package (.pt2), which libtorch " TORCH_VERSION
                                    " (this recal's) cannot load (libtorch >= 2.6 can): build recal against the "
                                    "PyTorch that exported it (tools/build.sh --torch python3; docs/install.md)");
#else
    auto m = std::make_shared<aoti_model>();
    m->dev = dev;
    m->loader = std::make_unique<torch::inductor::AOTIModelPackageLoader>(path, "model", false, 1,
                                                                          dev.is_cuda() ? dev.index() : -1);
    auto md = m->loader->get_metadata();
    auto get = [&](const char *key) -> std::string {
        auto it = md.find(key);
        if (it == md.end())
            throw std::runtime_error(path + ": an AOTInductor package without recal's metadata (" + key +
                                     "): make it with tools/export_model.py --format aoti, which compiles the "
                                     "model's input gradient into it");
        return it->second;
    };
    m->batch = std::stoll(get("recal_batch"));
    m->classes = std::stoll(get("recal_classes"));
    m->sample = ints(get("recal_sample"));
    auto dk = md.find("AOTI_DEVICE_KEY");
    if (dk != md.end() && dk->second != (dev.is_cuda() ? "cuda" : "cpu"))
        throw std::runtime_error(path + ": compiled for " + dk->second + ", run on " +
                                 (dev.is_cuda() ? "cuda" : "cpu") + ": set device: " + dk->second +
                                 ", or export again with --device " + (dev.is_cuda() ? "cuda" : "cpu"));
    if (m->batch < 1 || m->classes < 1 || m->sample.empty())
        throw std::runtime_error(path + ": recal's metadata in the package is not valid: export it again");
    return m;
#endif
}

int64_t aoti_classes(const aoti_model &m) {
    return m.classes;
}

std::pair<at::Tensor, at::Tensor> aoti_run(aoti_model &m, const at::Tensor &x, const at::Tensor &w) {
#ifndef RECAL_HAVE_AOTI
    (void)m, (void)x, (void)w;
    throw std::runtime_error("AOTInductor packages need libtorch >= 2.6");
#else
    const int64_t n = x.size(0), B = m.batch;
    std::vector<int64_t> shape(x.sizes().begin() + 1, x.sizes().end());
    if (shape != m.sample) {
        std::string want, got;
        for (auto d : m.sample) {
            want += 'x';
            want += std::to_string(d);
        }
        for (auto d : shape) {
            got += 'x';
            got += std::to_string(d);
        }
        throw std::invalid_argument("the AOTInductor package was compiled for inputs of shape N" + want + ", given N" +
                                    got + " (export it again with that --input-shape)");
    }
    std::vector<at::Tensor> lo, gr;
    std::lock_guard<std::mutex> lk(m.mu);
    for (int64_t s = 0; s < n; s += B) {
        const int64_t k = std::min(B, n - s);
        at::Tensor xs = x.narrow(0, s, k).to(at::kFloat), ws = w.narrow(0, s, k).to(at::kFloat);
        if (k < B) { // the last piece, padded with zeros to the compiled batch
            std::vector<int64_t> xp = {B - k}, wp = {B - k, m.classes};
            xp.insert(xp.end(), m.sample.begin(), m.sample.end());
            xs = at::cat({xs, at::zeros(xp, xs.options())});
            ws = at::cat({ws, at::zeros(wp, ws.options())});
        }
        std::vector<at::Tensor> out = m.loader->run({xs.contiguous(), ws.contiguous()});
        if (out.size() != 2 || out[0].dim() != 2 || out[0].size(0) != B || out[0].size(1) != m.classes)
            throw std::invalid_argument("the AOTInductor package did not return (logits [batch, classes], input "
                                        "gradient): make it with tools/export_model.py --format aoti");
        lo.push_back(out[0].narrow(0, 0, k));
        gr.push_back(out[1].narrow(0, 0, k));
    }
    return {at::cat(lo), at::cat(gr)};
#endif
}
