def batch_norm(input, running_mean, running_var, weight=None, bias=None,
               training=False, momentum=0.1, eps=1e-5):
    """Batch normalization over every axis of ``input`` except axis 1 (channels)."""
    shape = _channel_shape(input)
    axes = [0] + list(range(2, input.dim()))
    if not training:
        mu, sigma2 = running_mean, running_var
    else:
        n = input.numel() // input.shape[1]
        if n <= 1:
            raise ValueError("Expected more than 1 value per channel when training")
        mu, sigma2 = _moments(input, axes)
        if running_var is not None:
            running_var.copy_((1 - momentum) * running_var + momentum * sigma2.detach() * n / (n - 1))
        if running_mean is not None:
            running_mean.copy_((1 - momentum) * running_mean + momentum * mu.detach())
    y = (input - mu.view(shape)) * torch.rsqrt(sigma2.view(shape) + eps)
    if bias is not None:
        y = y + bias.view(shape) if weight is None else y * weight.view(shape) + bias.view(shape)
    elif weight is not None:
        y = y * weight.view(shape)
    return y


def _moments(x, axes):
    mu = x.mean(dim=axes)
    sigma2 = ((x - mu.view(_channel_shape(x))) ** 2).mean(dim=axes)
    return mu, sigma2


def _channel_shape(x):
    return [1, x.shape[1]] + [1] * (x.dim() - 2)
