"""Corpus: layer, group, instance and RMS normalization as students and libraries write them.

Written for the course in the styles real code uses: the Annotated Transformer's LayerNorm,
LLaMA's RMSNorm, CS231n's group normalization ported to PyTorch, module-like functions.
Each wrong entry lists the mistakes the checks must name.
"""

from corpus.harness import Entry

ENTRIES = [
    Entry(
        name="layer_norm_annotated_transformer",
        assignment="normalization_layers", function="layer_norm", style="the Annotated Transformer's LayerNorm",
        source='''
class LayerNorm(nn.Module):
    "Construct a layernorm module."
    def __init__(self, features, eps=1e-6):
        super().__init__()
        self.a_2 = nn.Parameter(torch.ones(features))
        self.b_2 = nn.Parameter(torch.zeros(features))
        self.eps = eps

    def forward(self, x):
        dims = tuple(range(-self.a_2.dim(), 0))
        mean = x.mean(dims, keepdim=True)
        std = x.std(dims, keepdim=True)
        return self.a_2 * (x - mean) / (std + self.eps) + self.b_2


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    module = LayerNorm(shape, eps)
    del module.a_2, module.b_2  # the check's tensors in place of the parameters, so that gradients reach them
    module.a_2, module.b_2 = (weight if weight is not None else torch.ones(shape, dtype=input.dtype, device=input.device),
                              bias if bias is not None else torch.zeros(shape, dtype=input.dtype, device=input.device))
    return module.forward(input)
''',
        mistakes=("unbiased_variance", "eps_outside_sqrt", "normalization_layers.std_plus_eps"),
    ),
    Entry(
        name="layer_norm_without_affine",
        assignment="normalization_layers", function="layer_norm", style="PyTorch function",
        source='''
def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    dims = tuple(range(-len(shape), 0))
    mean = input.mean(dim=dims, keepdim=True)
    var = ((input - mean) ** 2).mean(dim=dims, keepdim=True)
    return (input - mean) / torch.sqrt(var + eps)
''',
        mistakes=("normalization_layers.affine_ignored",),
    ),
    Entry(
        name="layer_norm_cs231n_transposed_batch_norm",
        assignment="normalization_layers", function="layer_norm", style="CS231n: batch normalization of the transpose",
        source='''
def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    rows = input.reshape(-1, int(torch.tensor(shape).prod()))   # (N, D): one sample per row
    x = rows.t()                                                 # (D, N): as batch norm's input
    mu = x.mean(dim=0)
    var = x.var(dim=0, unbiased=False)
    x_hat = ((x - mu) / torch.sqrt(var + eps)).t().reshape(input.shape)
    if weight is not None:
        x_hat = x_hat * weight
    if bias is not None:
        x_hat = x_hat + bias
    return x_hat
''',
    ),
    Entry(
        name="rms_norm_llama",
        assignment="normalization_layers", function="rms_norm", style="LLaMA's RMSNorm",
        source='''
class RMSNorm(torch.nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def _norm(self, x, dims):
        return x * torch.rsqrt(x.pow(2).mean(dims, keepdim=True) + self.eps)

    def forward(self, x):
        dims = tuple(range(-self.weight.dim(), 0))
        output = self._norm(x.float(), dims).type_as(x)
        return output * self.weight


def rms_norm(input, normalized_shape, weight=None, eps=None):
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    module = RMSNorm(shape, eps=torch.finfo(input.dtype).eps if eps is None else eps)
    del module.weight  # the check's tensor in place of the parameter, so that gradients reach it
    module.weight = weight if weight is not None else torch.ones(shape, dtype=input.dtype, device=input.device)
    return module(input)
''',
        mistakes=("normalization_layers.rms_in_float32",),
    ),
    Entry(
        name="rms_norm_llama_default_eps",
        assignment="normalization_layers", function="rms_norm", style="LLaMA's RMSNorm, its eps default kept",
        source='''
def rms_norm(input, normalized_shape, weight=None, eps=None):
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    dims = tuple(range(-len(shape), 0))
    eps = 1e-6 if eps is None else eps
    out = input * torch.rsqrt(input.pow(2).mean(dims, keepdim=True) + eps)
    return out if weight is None else out * weight
''',
        mistakes=("normalization_layers.rms_default_eps",),
    ),
    Entry(
        name="group_norm_count_and_size_swapped",
        assignment="normalization_layers", function="group_norm", style="PyTorch function",
        source='''
def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    N, C = input.shape[:2]
    if C % num_groups:
        raise RuntimeError("Expected number of channels in input to be divisible by num_groups")
    x = input.reshape(N, -1, num_groups, *input.shape[2:])    # (N, C // G, G, ...)
    dims = tuple(range(2, x.dim()))
    mean = x.mean(dims, keepdim=True)
    var = x.var(dims, unbiased=False, keepdim=True)
    out = ((x - mean) / torch.sqrt(var + eps)).reshape(input.shape)
    view = [1, C] + [1] * (input.dim() - 2)
    if weight is not None:
        out = out * weight.reshape(view)
    if bias is not None:
        out = out + bias.reshape(view)
    return out
''',
        mistakes=("normalization_layers.groups_swapped",),
    ),
    Entry(
        name="group_norm_cs231n_spatial_port",
        assignment="normalization_layers", function="group_norm", style="CS231n's spatial group norm, ported to PyTorch",
        source='''
def spatial_groupnorm_forward(x, gamma, beta, G, eps):
    N, C = x.shape[:2]
    x_group = x.reshape(N, G, -1)
    mean = x_group.mean(dim=2, keepdim=True)
    var = x_group.var(dim=2, unbiased=False, keepdim=True)
    x_hat = ((x_group - mean) / torch.sqrt(var + eps)).reshape(x.shape)
    return gamma * x_hat + beta


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    C = input.shape[1]
    if C % num_groups:
        raise RuntimeError("Expected number of channels in input to be divisible by num_groups")
    view = [1, C] + [1] * (input.dim() - 2)
    gamma = 1.0 if weight is None else weight.reshape(view)
    beta = 0.0 if bias is None else bias.reshape(view)
    return spatial_groupnorm_forward(input, gamma, beta, num_groups, eps)
''',
    ),
    Entry(
        name="instance_norm_affine_ignored_eps_outside",
        assignment="normalization_layers", function="instance_norm", style="PyTorch function, two mistakes",
        source='''
def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    view = [1, -1] + [1] * (input.dim() - 2)
    dims = tuple(range(2, input.dim()))
    if use_input_stats:
        if input[0, 0].numel() < 2:
            raise ValueError("Expected more than 1 spatial element when training")
        mean = input.mean(dims, keepdim=True)
        var = input.var(dims, unbiased=False, keepdim=True)
        if running_mean is not None:
            with torch.no_grad():
                running_mean.mul_(1 - momentum).add_(momentum * mean.mean(0).flatten())
                running_var.mul_(1 - momentum).add_(momentum * input.var(dims).mean(0))
        return (input - mean) / (var.sqrt() + eps)
    return (input - running_mean.reshape(view)) / (running_var.reshape(view).sqrt() + eps)
''',
        mistakes=("normalization_layers.affine_ignored", "eps_outside_sqrt"),
    ),
]
