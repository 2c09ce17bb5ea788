def batch_norm(input, running_mean, running_var, weight=None, bias=None,
               training=False, momentum=0.1, eps=1e-5):
    """Batch normalization over every axis of ``input`` except axis 1 (channels)."""
    x = input.movedim(1, -1)  # channels last: (..., C)
    flat = x.reshape(-1, x.shape[-1])
    if training:
        if flat.shape[0] <= 1:
            raise ValueError("Expected more than 1 value per channel when training")
        mean = flat.mean(dim=0)
        var = flat.var(dim=0, unbiased=False)
        if running_mean is not None or running_var is not None:
            with torch.no_grad():
                if running_mean is not None:
                    running_mean.copy_(momentum * mean + (1 - momentum) * running_mean)
                if running_var is not None:
                    running_var.copy_(momentum * flat.var(dim=0, unbiased=True) + (1 - momentum) * running_var)
    else:
        mean, var = running_mean, running_var
    x = (x - mean) / torch.sqrt(var + eps)
    if weight is not None:
        x = x * weight
    if bias is not None:
        x = x + bias
    return x.movedim(-1, 1)
