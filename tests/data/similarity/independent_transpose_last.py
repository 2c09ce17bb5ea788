def batch_norm(input, running_mean, running_var, weight=None, bias=None,
               training=False, momentum=0.1, eps=1e-5):
    """Batch normalization over every axis of ``input`` except axis 1 (channels)."""
    # put the channel axis last, where broadcasting against (C,) needs no reshape
    t = input.transpose(1, -1) if input.dim() > 2 else input
    red = tuple(range(t.dim() - 1))
    if training:
        k = t.numel() // t.shape[-1]
        if k < 2:
            raise ValueError("Expected more than 1 value per channel when training")
        avg = t.mean(dim=red)
        msq = (t ** 2).mean(dim=red) - avg ** 2
        msq = msq.clamp(min=0)
        if running_mean is not None:
            running_mean.data.copy_((1 - momentum) * running_mean + momentum * avg.detach())
        if running_var is not None:
            running_var.data.copy_((1 - momentum) * running_var + momentum * msq.detach() * k / (k - 1))
    else:
        avg, msq = running_mean, running_var
    t = (t - avg) / (msq + eps).sqrt()
    if weight is not None:
        t = t * weight
    if bias is not None:
        t = t + bias
    return t.transpose(1, -1) if input.dim() > 2 else t
