// torch/aoti_model.h — internal to the shim (C++ only): a model
// compiled ahead of time by AOTInductor (a .pt2 package made by
// tools/export_model.py --format aoti), next to TorchScript.
//
// The package holds one function, f(x, w) = (logits, ∂Σ(logits·w)/∂x), for a
// fixed batch B (the export's --batch): forward and backward of the model
// traced into one graph of aten ops and compiled to machine code. Any
// objective's input gradient is one call with w = ∂F/∂logits (the logit
// objective: a one-hot w, known before the call; the others: a first call
// for the logits). A batch of n inputs runs as ⌈n / B⌉ calls, the last one
// padded with zeros. Built only against libtorch >= 2.6, where
// torch::inductor::AOTIModelPackageLoader exists; elsewhere aoti_open throws
// with the build that loads such a package.
#ifndef RECAL_AOTI_MODEL_H
#define RECAL_AOTI_MODEL_H
#include <memory>
#include <string>
#include <utility>

#include <ATen/Tensor.h>
#include <c10/core/Device.h>

struct aoti_model;
// Throws std::runtime_error with what to do when the package cannot be used.
std::shared_ptr<aoti_model> aoti_open(const std::string &path, c10::Device dev);
int64_t aoti_classes(const aoti_model &m);
// (logits [n, classes], ∂Σ(logits·w)/∂x [n, ...x's sample shape]) for any n ≥ 1.
std::pair<at::Tensor, at::Tensor> aoti_run(aoti_model &m, const at::Tensor &x, const at::Tensor &w);
#endif
