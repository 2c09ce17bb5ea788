"""Corpus: batch normalization as students write it, wrong and right.

Written for the course in the styles real code uses: NumPy functions in CS231n's (N, D)
layout with a ``bn_param`` dict (through an adapter that translates the layout, the
arrays and the argument order, and nothing of substance), and PyTorch functions. Each
wrong entry lists the mistakes the checks must name.
"""

from corpus.harness import Entry

# Calls a CS231n-style ``batchnorm_forward(x, gamma, beta, bn_param)`` on (N, D) NumPy arrays:
# channels last, every other axis flattened into N, running statistics in bn_param.
CS231N_ADAPTER = '''
def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    x = input.detach().cpu().numpy()
    channels = x.shape[1]
    rows = np.moveaxis(x, 1, -1).reshape(-1, channels)
    gamma = np.ones(channels) if weight is None else weight.detach().cpu().numpy()
    beta = np.zeros(channels) if bias is None else bias.detach().cpu().numpy()
    bn_param = {"mode": "train" if training else "test", "eps": eps, "momentum": momentum,
                "running_mean": running_mean.cpu().numpy().copy(), "running_var": running_var.cpu().numpy().copy()}
    out, _ = batchnorm_forward(rows, gamma, beta, bn_param)
    running_mean.copy_(torch.from_numpy(bn_param["running_mean"]))
    running_var.copy_(torch.from_numpy(bn_param["running_var"]))
    out = np.moveaxis(out.reshape(np.moveaxis(x, 1, -1).shape), -1, 1)
    return torch.from_numpy(np.ascontiguousarray(out)).to(input.dtype)
'''

ENTRIES = [
    Entry(
        name="batch_norm_cs231n_numpy_conventions",
        assignment="batch_norm", function="batch_norm", style="CS231n NumPy, through an adapter",
        adapter=CS231N_ADAPTER,
        source='''
def batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    running_mean, running_var = bn_param["running_mean"], bn_param["running_var"]
    if mode == "train":
        sample_mean = x.mean(axis=0)
        sample_var = x.var(axis=0)
        x_hat = (x - sample_mean) / np.sqrt(sample_var + eps)
        out = gamma * x_hat + beta
        running_mean = momentum * running_mean + (1 - momentum) * sample_mean
        running_var = momentum * running_var + (1 - momentum) * sample_var
        cache = (x_hat, gamma, sample_var, eps)
    else:
        out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
        cache = None
    bn_param["running_mean"], bn_param["running_var"] = running_mean, running_var
    return out, cache
''',
        mistakes=("biased_running_var", "flipped_momentum"),
    ),
    Entry(
        name="batch_norm_cs231n_numpy_eps_outside_biased",
        assignment="batch_norm", function="batch_norm", style="CS231n NumPy, through an adapter",
        adapter=CS231N_ADAPTER,
        source='''
def batchnorm_forward(x, gamma, beta, bn_param):
    eps, momentum = bn_param["eps"], bn_param["momentum"]
    if bn_param["mode"] == "train":
        mu = np.mean(x, axis=0)
        var = np.mean((x - mu) ** 2, axis=0)
        std = np.sqrt(var) + eps
        out = gamma * (x - mu) / std + beta
        bn_param["running_mean"] = (1 - momentum) * bn_param["running_mean"] + momentum * mu
        bn_param["running_var"] = (1 - momentum) * bn_param["running_var"] + momentum * var
    else:
        out = gamma * (x - bn_param["running_mean"]) / (np.sqrt(bn_param["running_var"]) + eps) + beta
    return out, None
''',
        mistakes=("eps_outside_sqrt", "biased_running_var"),
    ),
    Entry(
        name="batch_norm_var_mean_rsqrt",
        assignment="batch_norm", function="batch_norm", style="PyTorch function, correct alternative",
        source='''
def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    dims = [0] + list(range(2, input.dim()))
    shape = [1, input.shape[1]] + [1] * (input.dim() - 2)
    if training:
        n = input.numel() // input.shape[1]
        if n <= 1:
            raise ValueError("Expected more than 1 value per channel when training")
        var, mean = torch.var_mean(input, dim=dims, correction=0)
        if running_mean is not None:
            with torch.no_grad():
                running_mean.lerp_(mean, momentum)
                running_var.lerp_(var * n / (n - 1), momentum)
    else:
        mean, var = running_mean, running_var
    out = (input - mean.view(shape)) * torch.rsqrt(var.view(shape) + eps)
    if weight is not None:
        out = out * weight.view(shape)
    if bias is not None:
        out = out + bias.view(shape)
    return out
''',
    ),
    Entry(
        name="batch_norm_eval_without_eps",
        assignment="batch_norm", function="batch_norm", style="PyTorch function",
        source='''
def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    axes = tuple(d for d in range(input.dim()) if d != 1)
    view = (1, -1) + (1,) * (input.dim() - 2)
    if training:
        if input.numel() // input.shape[1] < 2:
            raise ValueError("need more than one value per channel")
        mean = input.mean(axes)
        var = input.var(axes, unbiased=False)
        with torch.no_grad():
            running_mean.mul_(1 - momentum).add_(momentum * mean)
            running_var.mul_(1 - momentum).add_(momentum * input.var(axes, unbiased=True))
        x_hat = (input - mean.view(view)) / torch.sqrt(var.view(view) + eps)
    else:
        x_hat = (input - running_mean.view(view)) / torch.sqrt(running_var.view(view))
    if weight is not None:
        x_hat = x_hat * weight.view(view)
    if bias is not None:
        x_hat = x_hat + bias.view(view)
    return x_hat
''',
        mistakes=("batch_norm.eval_without_eps",),
    ),
    Entry(
        name="batch_norm_running_stats_rebound",
        assignment="batch_norm", function="batch_norm", style="PyTorch function",
        source='''
def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    axes = [d for d in range(input.dim()) if d != 1]
    view = [1, -1] + [1] * (input.dim() - 2)
    if training:
        if input.numel() // input.shape[1] < 2:
            raise ValueError("need more than one value per channel")
        mean, var = input.mean(axes), input.var(axes, unbiased=False)
        running_mean = (1 - momentum) * running_mean + momentum * mean.detach()
        running_var = (1 - momentum) * running_var + momentum * input.var(axes).detach()
    else:
        mean, var = running_mean, running_var
    out = (input - mean.view(view)) / (var.view(view) + eps).sqrt()
    if weight is not None:
        out = weight.view(view) * out
    if bias is not None:
        out = out + bias.view(view)
    return out
''',
        mistakes=("batch_norm.running_not_updated",),
    ),
    Entry(
        name="batch_norm_running_var_holds_std",
        assignment="batch_norm", function="batch_norm", style="PyTorch function",
        source='''
def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    axes = [d for d in range(input.dim()) if d != 1]
    view = [1, -1] + [1] * (input.dim() - 2)
    if training:
        if input.numel() // input.shape[1] < 2:
            raise ValueError("need more than one value per channel")
        mean, var = input.mean(axes), input.var(axes, unbiased=False)
        with torch.no_grad():
            running_mean.mul_(1 - momentum).add_(momentum * mean)
            running_var.mul_(1 - momentum).add_(momentum * input.std(axes))
    else:
        mean, var = running_mean, running_var
    out = (input - mean.view(view)) / torch.sqrt(var.view(view) + eps)
    if weight is not None:
        out = out * weight.view(view)
    if bias is not None:
        out = out + bias.view(view)
    return out
''',
        mistakes=("batch_norm.running_var_holds_std",),
    ),
    Entry(
        name="batch_norm_eval_without_affine_cs231n_momentum",
        assignment="batch_norm", function="batch_norm", style="PyTorch function, two mistakes",
        source='''
def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    axes = [d for d in range(input.dim()) if d != 1]
    view = [1, -1] + [1] * (input.dim() - 2)
    if not training:
        return (input - running_mean.view(view)) / torch.sqrt(running_var.view(view) + eps)
    if input.numel() // input.shape[1] < 2:
        raise ValueError("need more than one value per channel")
    mean, var = input.mean(axes), input.var(axes, unbiased=False)
    with torch.no_grad():
        running_mean.copy_(momentum * running_mean + (1 - momentum) * mean)
        running_var.copy_(momentum * running_var + (1 - momentum) * input.var(axes))
    out = (input - mean.view(view)) / torch.sqrt(var.view(view) + eps)
    if weight is not None:
        out = out * weight.view(view)
    if bias is not None:
        out = out + bias.view(view)
    return out
''',
        mistakes=("batch_norm.eval_without_affine", "flipped_momentum"),
    ),
    Entry(
        name="batch_norm_torch_var_default",
        assignment="batch_norm", function="batch_norm", style="PyTorch function",
        source='''
def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    axes = [d for d in range(input.dim()) if d != 1]
    view = [1, -1] + [1] * (input.dim() - 2)
    if training:
        if input.numel() // input.shape[1] < 2:
            raise ValueError("need more than one value per channel")
        mean, var = input.mean(axes), input.var(axes)
        with torch.no_grad():
            running_mean.mul_(1 - momentum).add_(momentum * mean)
            running_var.mul_(1 - momentum).add_(momentum * var)
    else:
        mean, var = running_mean, running_var
    out = (input - mean.view(view)) / torch.sqrt(var.view(view) + eps)
    if weight is not None:
        out = out * weight.view(view)
    if bias is not None:
        out = out + bias.view(view)
    return out
''',
        mistakes=("unbiased_variance",),
    ),
    Entry(
        name="batch_norm_batch_axis_only",
        assignment="batch_norm", function="batch_norm", style="PyTorch function written for (N, D)",
        source='''
def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    axes = [d for d in range(input.dim()) if d != 1]
    view = [1, -1] + [1] * (input.dim() - 2)
    if training:
        if input.numel() // input.shape[1] < 2:
            raise ValueError("need more than one value per channel")
        mean = input.mean(0, keepdim=True)
        var = input.var(0, unbiased=False, keepdim=True)
        with torch.no_grad():
            running_mean.mul_(1 - momentum).add_(momentum * input.mean(axes))
            running_var.mul_(1 - momentum).add_(momentum * input.var(axes))
    else:
        mean, var = running_mean.view(view), running_var.view(view)
    out = (input - mean) / torch.sqrt(var + eps)
    if weight is not None:
        out = out * weight.view(view)
    if bias is not None:
        out = out + bias.view(view)
    return out
''',
        mistakes=("batch_norm.batch_axis_only",),
    ),
]
