# Helper: the shape that broadcasts a per-channel vector against the input.
def _channel_shape( x ):
    return [ 1, x.shape[ 1 ] ] + [ 1 ] * ( x.dim( ) - 2 )

# Helper: mean and (biased) variance over the given axes.
def _moments( x, axes ):
    mu = x.mean( dim = axes )   # per-channel mean
    sigma2 = ( ( x - mu.view( _channel_shape( x ) ) ) ** 2 ).mean( dim = axes )   # biased variance
    return mu, sigma2

def batch_norm(input, running_mean, running_var, weight=None, bias=None,
               training=False, momentum=0.1, eps=1e-5):
    """Batch normalization over every axis of ``input`` except axis 1 (channels)."""
    # Reduce over N and the spatial axes.
    axes = [ 0 ] + list( range( 2, input.dim( ) ) )
    shape = _channel_shape( input )

    if training:
        # Number of values per channel.
        n = input.numel( ) // input.shape[ 1 ]
        if n <= 1:
            raise ValueError( "Expected more than 1 value per channel when training" )
        mu, sigma2 = _moments( input, axes )
        # Update the running estimates in place.
        if running_mean is not None:
            running_mean.copy_( ( 1 - momentum ) * running_mean + momentum * mu.detach( ) )
        if running_var is not None:
            # unbiased estimate for the running variance
            running_var.copy_( ( 1 - momentum ) * running_var + momentum * sigma2.detach( ) * n / ( n - 1 ) )
    else:
        # Evaluation: use the running statistics.
        mu, sigma2 = running_mean, running_var

    y = ( input - mu.view( shape ) ) * torch.rsqrt( sigma2.view( shape ) + eps )   # normalize

    if weight is not None:
        y = y * weight.view( shape )   # scale
    if bias is not None:
        y = y + bias.view( shape )   # shift

    return y
