def batch_norm(input, running_mean, running_var, weight=None, bias=None,
               training=False, momentum=0.1, eps=1e-5):
    """Batch normalization over every axis of ``input`` except axis 1 (channels)."""
    dims = input.dim()
    letters = "abcdefgh"[:dims]
    keep = letters[1]
    collapse = f"{letters}->{keep}"
    expand = f"{letters},{keep}->{letters}"
    count = input.numel() // input.shape[1]
    if training:
        if count < 2:
            raise ValueError("Expected more than 1 value per channel when training")
        centre = torch.einsum(collapse, input) / count
        centred = input - torch.einsum(expand, torch.ones_like(input), centre)
        power = torch.einsum(collapse, centred * centred) / count
        if running_mean is not None:
            running_mean.copy_(running_mean * (1 - momentum) + centre.detach() * momentum)
        if running_var is not None:
            running_var.copy_(running_var * (1 - momentum) + power.detach() * (count / (count - 1)) * momentum)
    else:
        centre, power = running_mean, running_var
        centred = input - torch.einsum(expand, torch.ones_like(input), centre)
    scale = 1 / torch.sqrt(power + eps)
    if weight is not None:
        scale = scale * weight
    out = torch.einsum(expand, centred, scale)
    if bias is not None:
        out = out + torch.einsum(expand, torch.ones_like(input), bias)
    return out
