def batch_norm(input, running_mean, running_var, weight=None, bias=None,
               training=False, momentum=0.1, eps=1e-5):
    """Batch normalization over every axis of ``input`` except axis 1 (channels)."""
    C = input.size(1)
    reduce_dims = tuple(i for i in range(input.ndim) if i != 1)
    target = [1] * input.ndim
    target[1] = C

    def spread(v):
        return v.reshape(target).expand_as(input)

    if training:
        per = input.numel() // C
        if per < 2:
            raise ValueError("Expected more than 1 value per channel when training")
        mean_c = torch.mean(input, dim=reduce_dims)
        dev = input - spread(mean_c)
        var_c = torch.sum(dev * dev, dim=reduce_dims) / per
        if running_mean is not None:
            with torch.no_grad():
                running_mean.copy_(running_mean + momentum * (mean_c - running_mean))
        if running_var is not None:
            with torch.no_grad():
                running_var.copy_(running_var + momentum * (var_c * per / (per - 1) - running_var))
        y = dev / spread(torch.sqrt(var_c + eps))
    else:
        y = (input - spread(running_mean)) / spread(torch.sqrt(running_var + eps))
    if weight is not None:
        y = y * spread(weight)
    if bias is not None:
        y = y + spread(bias)
    return y
