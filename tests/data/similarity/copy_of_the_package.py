def batch_norm(input, running_mean, running_var, weight=None, bias=None,
               training=False, momentum=0.1, eps=1e-5):
    """Batch normalization over every axis of ``input`` except axis 1 (channels)."""
    if input.numel() // input.shape[1] < 2 and training:
        raise ValueError("Expected more than 1 value per channel when training")
    dims = [d for d in range(input.dim()) if d != 1]
    per_channel = [1, -1] + [1] * (input.dim() - 2)  # broadcast a (C,) vector
    if training:
        over = dims
        mean = input.mean(dim=over, keepdim=True)
        var = input.var(dim=over, unbiased=False, keepdim=True)
    else:
        mean, var = running_mean.reshape(per_channel), running_var.reshape(per_channel)
    if training and running_mean is not None:
        with torch.no_grad():
            new_weight = momentum
            batch_var = input.var(dim=dims, unbiased=True)
            running_mean.mul_(1 - new_weight).add_(new_weight * input.mean(dim=dims))
            running_var.mul_(1 - new_weight).add_(new_weight * batch_var)
    std = (var + eps).sqrt()
    out = (input - mean) / std
    if weight is not None:
        out = out * weight.reshape(per_channel)
    if bias is not None:
        out = out + bias.reshape(per_channel)
    return out
