def _bshape(t):
    return [1, t.shape[1]] + [1] * (t.dim() - 2)


def _stats(t, reduce_over):
    m = t.mean(dim=reduce_over)
    v = ((t - m.view(_bshape(t))) ** 2).mean(dim=reduce_over)
    return m, v


def batch_norm(input, running_mean, running_var, weight=None, bias=None,
               training=False, momentum=0.1, eps=1e-5):
    """Batch normalization over every axis of ``input`` except axis 1 (channels)."""
    reduce_over = [0] + list(range(2, input.dim()))
    bshape = _bshape(input)
    if training:
        count = input.numel() // input.shape[1]
        if count <= 1:
            raise ValueError("Expected more than 1 value per channel when training")
        m, v = _stats(input, reduce_over)
        if running_mean is not None:
            running_mean.copy_((1 - momentum) * running_mean + momentum * m.detach())
        if running_var is not None:
            running_var.copy_((1 - momentum) * running_var + momentum * v.detach() * count / (count - 1))
    else:
        m, v = running_mean, running_var
    result = (input - m.view(bshape)) * torch.rsqrt(v.view(bshape) + eps)
    if weight is not None:
        result = result * weight.view(bshape)
    if bias is not None:
        result = result + bias.view(bshape)
    return result
