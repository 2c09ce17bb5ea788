def batch_norm(input, running_mean, running_var, weight=None, bias=None,
               training=False, momentum=0.1, eps=1e-5):
    """Batch normalization over every axis of ``input`` except axis 1 (channels)."""
    axes = [a for a in range(input.dim()) if a != 1]
    b = lambda v: v.reshape([1, -1] + [1] * (input.dim() - 2))
    if training:
        count = input.numel() // input.shape[1]
        if count < 2:
            raise ValueError("Expected more than 1 value per channel when training, got a single one")
        s1 = input.sum(dim=axes)
        s2 = (input * input).sum(dim=axes)
        mu = s1 / count
        sigma_sq = (s2 / count - mu * mu).clamp(min=0)
        if running_mean is not None:
            running_mean.data = running_mean.data * (1 - momentum) + mu.detach() * momentum
        if running_var is not None:
            unbiased = sigma_sq.detach() * count / (count - 1)
            running_var.data = running_var.data * (1 - momentum) + unbiased * momentum
    else:
        mu, sigma_sq = running_mean, running_var
    out = (input - b(mu)) / b(torch.sqrt(sigma_sq + eps))
    return out * (b(weight) if weight is not None else 1) + (b(bias) if bias is not None else 0)
