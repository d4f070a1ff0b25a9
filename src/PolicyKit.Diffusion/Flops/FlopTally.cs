namespace PolicyKit.Diffusion.Flops;

/// <summary>
/// The running FLOPs count of a series of forwards (one generation): each layer adds the work it executed
/// (<see cref="Model.TransformerLayer.Forward"/>, cached or not) and the forward adds its LM head. Not thread-safe:
/// one tally per generation.
/// </summary>
public sealed class FlopTally
{
    public FlopTally(FlopCounter counter)
    {
        ArgumentNullException.ThrowIfNull(counter);
        Counter = counter;
    }

    public FlopCounter Counter { get; }

    /// <summary>Executed and full-forward FLOPs so far.</summary>
    public FlopCount Total { get; private set; }

    /// <summary>Adds one layer's work (<see cref="FlopCounter.Layer"/>).</summary>
    public void AddLayer(long batch, long length, long computedRows, long valueRows, long cacheProjectedRows, long keyLength = -1, long attentionProbeQueries = 0) =>
        Total += Counter.Layer(batch, length, computedRows, valueRows, cacheProjectedRows, keyLength, attentionProbeQueries);

    /// <summary>Adds the LM head on <paramref name="rows"/> rows (the same with or without a cache).</summary>
    public void AddLmHead(long rows)
    {
        var head = Counter.LmHead(rows);
        Total += new FlopCount(head, head);
    }
}
