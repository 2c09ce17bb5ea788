def batch_norm(input, running_mean, running_var, weight=None, bias=None,
               training=False, momentum=0.1, eps=1e-5):
    """Batch normalization over every axis of ``input`` except axis 1 (channels)."""
    dims = tuple(d for d in range(input.ndim) if d != 1)
    if training:
        if input.numel() == input.size(1):
            raise ValueError("need more than one value per channel")
        mean = input.mean(dims, keepdim=True)
        var = input.var(dims, keepdim=True, unbiased=False)
        with torch.no_grad():
            n = input.numel() / input.size(1)
            if running_mean is not None:
                running_mean.lerp_(mean.flatten(), momentum)
            if running_var is not None:
                running_var.lerp_(var.flatten() * n / (n - 1), momentum)
    else:
        view = [-1 if d == 1 else 1 for d in range(input.ndim)]
        mean, var = running_mean.view(view), running_var.view(view)
    normalized = (input - mean) / torch.sqrt(var + eps)
    view = [-1 if d == 1 else 1 for d in range(input.ndim)]
    if weight is not None:
        normalized = normalized * weight.view(view)
    if bias is not None:
        normalized = normalized + bias.view(view)
    return normalized
