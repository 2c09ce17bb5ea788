def batch_norm(input, running_mean, running_var, weight=None, bias=None,
               training=False, momentum=0.1, eps=1e-5):
    """Batch normalization over every axis of ``input`` except axis 1 (channels)."""
    reduce = [0, *range(2, input.dim())]
    bcast = (1, -1) + (1,) * (input.dim() - 2)
    if not training:
        var, mean = running_var, running_mean
    else:
        var, mean = torch.var_mean(input, dim=reduce, correction=0)
        per_channel = input.numel() // input.shape[1]
        if per_channel == 1:
            raise ValueError("Expected more than 1 value per channel when training")
        with torch.no_grad():
            if running_mean is not None:
                running_mean.mul_(1.0 - momentum).add_(mean, alpha=momentum)
            if running_var is not None:
                unbiased_var = var * (per_channel / (per_channel - 1.0))
                running_var.mul_(1.0 - momentum).add_(unbiased_var, alpha=momentum)
    inv_std = (var + eps).rsqrt().reshape(bcast)
    shifted = input - mean.reshape(bcast)
    scale = inv_std if weight is None else inv_std * weight.reshape(bcast)
    shift = 0.0 if bias is None else bias.reshape(bcast)
    return shifted * scale + shift
