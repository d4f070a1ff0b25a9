namespace PolicyKit.Diffusion.Caching;

/// <summary>
/// What one layer did at one step: its plan, how many rows of each sequence it recomputed and how many it dropped
/// from the forward (neither queries nor keys; <see cref="ActionKind.Drop"/>).
/// </summary>
public readonly record struct LayerStepRecord(int Step, int Layer, LayerPlan Plan, int RowsRecomputed, int SequenceLength)
{
    /// <summary>Rows per sequence left out of the forward (the dropped far suffix).</summary>
    public int RowsDropped { get; init; }

    /// <summary>True when the plan's drift test (<see cref="LayerPlan.Trigger"/>) fired at this layer: the later layers saw it.</summary>
    public bool TriggerFired { get; init; }
}

/// <summary>Counters of one cache session: what each layer recomputed at each step (FLOPs are counted by the forward, <see cref="Flops.FlopTally"/>).</summary>
public sealed class CacheStatistics
{
    private readonly List<LayerStepRecord> _records = [];

    public IReadOnlyList<LayerStepRecord> Records => _records;

    /// <summary>Rows recomputed over rows a full forward would compute, across every layer and step.</summary>
    public double RecomputeFraction
    {
        get
        {
            double done = 0, total = 0;
            foreach (var r in _records) { done += r.RowsRecomputed; total += r.SequenceLength; }
            return total > 0 ? done / total : 1.0;
        }
    }

    internal void Add(in LayerStepRecord record) => _records.Add(record);
}
