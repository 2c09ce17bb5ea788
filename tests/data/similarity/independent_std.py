def batch_norm(input, running_mean, running_var, weight=None, bias=None,
               training=False, momentum=0.1, eps=1e-5):
    """Batch normalization over every axis of ``input`` except axis 1 (channels)."""
    shape = [1] * input.dim()
    shape[1] = input.shape[1]
    over = [i for i in range(input.dim()) if i != 1]
    if training:
        N = input.numel() // input.shape[1]
        if N == 1:
            raise ValueError("Expected more than 1 value per channel when training")
        mu = input.mean(over, keepdim=True)
        sd = torch.sqrt(input.var(over, keepdim=True, unbiased=False) + eps)
        if running_mean is not None:
            running_mean.data.mul_(1 - momentum).add_(momentum * mu.detach().flatten())
        if running_var is not None:
            running_var.data.mul_(1 - momentum).add_(momentum * input.detach().var(over, unbiased=True))
    else:
        mu = running_mean.reshape(shape)
        sd = torch.sqrt(running_var.reshape(shape) + eps)
    x_hat = (input - mu) / sd
    gamma = weight.reshape(shape) if weight is not None else torch.ones(shape, dtype=input.dtype, device=input.device)
    beta = bias.reshape(shape) if bias is not None else torch.zeros(shape, dtype=input.dtype, device=input.device)
    return gamma * x_hat + beta
