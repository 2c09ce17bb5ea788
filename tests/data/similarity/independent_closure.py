def batch_norm(input, running_mean, running_var, weight=None, bias=None,
               training=False, momentum=0.1, eps=1e-5):
    """Batch normalization over every axis of ``input`` except axis 1 (channels)."""
    n_dims = input.dim()

    def per_channel(t):
        return t.view(1, -1, *([1] * (n_dims - 2)))

    def stats(t):
        dims = [0] + [i for i in range(2, n_dims)]
        m = t.mean(dim=dims)
        return m, (t - per_channel(m)).pow(2).mean(dim=dims)

    def update(buffer, value):
        if buffer is not None:
            with torch.no_grad():
                buffer.mul_(1 - momentum).add_(value * momentum)

    if training:
        size = input.numel() // input.size(1)
        if size < 2:
            raise ValueError("Expected more than 1 value per channel when training")
        m, v = stats(input)
        update(running_mean, m)
        update(running_var, v * (size / (size - 1)))
    else:
        m, v = running_mean, running_var
    res = (input - per_channel(m)).div(per_channel(v).add(eps).sqrt())
    if weight is not None:
        res = res.mul(per_channel(weight))
    if bias is not None:
        res = res.add(per_channel(bias))
    return res
