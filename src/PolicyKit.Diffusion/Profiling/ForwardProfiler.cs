using System.Diagnostics;
using PolicyKit.Diffusion.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace PolicyKit.Diffusion.Profiling;

/// <summary>
/// Where a generation spends its time and its native calls: per layer (split at the cache hook's calls into
/// <see cref="LayerPhase"/>s), per forward (layers, LM head, the rest) and the sampler around the forwards.
/// Attach one to a <see cref="Generation.TextGenerator"/> (<c>Profiler</c>); it accumulates over every generation
/// that generator runs, on the calling thread.
/// </summary>
/// <remarks>
/// <para>Native calls are counted as the tensors TorchSharp creates on this thread
/// (<see cref="DisposeScopeManager.Statistics"/>): every LibTorch op that returns a tensor (views such as
/// <c>narrow</c> and <c>view</c> included) creates one. In-place ops (<c>add_</c>, <c>copy_</c>, <c>index_copy_</c>)
/// return their receiver and host reads (<c>item</c>, <c>data</c>) return no tensor, so the count is a lower bound
/// on the native calls; TorchSharp 0.107 has no per-op hook or profiler binding that would count those too.</para>
/// <para>Layers are timed by a decorator around the forward's <see cref="ILayerCache"/> (for the plain forward, a
/// pass-through hook that selects every row): the layer itself is untouched and the answer is the same.</para>
/// </remarks>
public sealed class ForwardProfiler
{
    private readonly Dictionary<LayerKind, LayerTotals> _layers = new();
    private readonly Dictionary<int, LayerTotals> _byIndex = new();
    private long _lastTicks, _lastCalls;
    private long _forwardStartTicks, _forwardStartCalls, _generationStartTicks, _generationStartCalls;
    private readonly Cost[] _current = new Cost[LayerTotals.PhaseCount];
    private LayerKind _currentKind;
    private int _currentIndex;

    /// <summary>Tensors TorchSharp has created on this thread so far (see the remarks).</summary>
    public static long NativeCalls
    {
        get
        {
            var s = DisposeScopeManager.Statistics.TensorStatistics;
            return s.CreatedInScopeCount + s.CreatedOutsideScopeCount;
        }
    }

    public int Generations { get; private set; }
    public int Forwards { get; private set; }

    /// <summary>Whole generations (sampler and forwards).</summary>
    public Cost Generation { get; private set; }

    /// <summary>Every forward from the denoiser's call to its logits (the cache hook's step setup included).</summary>
    public Cost Forward { get; private set; }

    /// <summary>From the last layer's end to the logits: final norm, LM head, the last residual add.</summary>
    public Cost Head { get; private set; }

    /// <summary>Layer totals by kind (full, partial, no row computed).</summary>
    public IReadOnlyDictionary<LayerKind, LayerTotals> Layers => _layers;

    /// <summary>Layer totals by layer index.</summary>
    public IReadOnlyDictionary<int, LayerTotals> LayersByIndex => _byIndex;

    /// <summary>All layers together.</summary>
    public Cost LayersTotal => _layers.Values.Aggregate(default(Cost), (sum, l) => sum + l.Total);

    /// <summary>The sampler: the generation minus its forwards (token state, argmax, confidences, host copies).</summary>
    public Cost Sampler => Generation - Forward;

    /// <summary>The forward minus its layers and head: embedding, rotary and mask setup, the cache's step setup, layer tails.</summary>
    public Cost ForwardOther => Forward - LayersTotal - Head;

    public void BeginGeneration()
    {
        _generationStartTicks = Stopwatch.GetTimestamp();
        _generationStartCalls = NativeCalls;
    }

    public void EndGeneration()
    {
        Generation += new Cost(Stopwatch.GetTimestamp() - _generationStartTicks, NativeCalls - _generationStartCalls);
        Generations++;
    }

    /// <summary>
    /// Runs one forward through <paramref name="forward"/>, handing it the hook to pass the model: the hook
    /// <paramref name="cacheForStep"/> makes, wrapped so each layer is measured (null: a pass-through hook that computes
    /// every row, as the plain forward does). The hook's step setup counts in the forward.
    /// </summary>
    public Tensor Measure(Func<ILayerCache?> cacheForStep, Func<ILayerCache, Tensor> forward)
    {
        _forwardStartTicks = _lastTicks = Stopwatch.GetTimestamp();
        _forwardStartCalls = _lastCalls = NativeCalls;
        var logits = forward(new MeasuringHook(this, cacheForStep()));
        long ticks = Stopwatch.GetTimestamp(), calls = NativeCalls;
        Head += new Cost(ticks - _lastTicks, calls - _lastCalls);
        Forward += new Cost(ticks - _forwardStartTicks, calls - _forwardStartCalls);
        Forwards++;
        return logits;
    }

    private Cost Lap()
    {
        long ticks = Stopwatch.GetTimestamp(), calls = NativeCalls;
        var cost = new Cost(ticks - _lastTicks, calls - _lastCalls);
        _lastTicks = ticks;
        _lastCalls = calls;
        return cost;
    }

    private void BeginLayer(int index)
    {
        Lap();  // the previous layer's tail or the embedding: counted in ForwardOther
        Array.Clear(_current);
        _currentIndex = index;
    }

    private void EndPhase(LayerPhase phase) => _current[(int)phase] += Lap();

    private void EndLayer()
    {
        Add(_layers, _currentKind, _current);
        Add(_byIndex, _currentIndex, _current);
    }

    private static void Add<TKey>(Dictionary<TKey, LayerTotals> totals, TKey key, Cost[] layer) where TKey : notnull
    {
        if (!totals.TryGetValue(key, out var sum)) totals[key] = sum = new LayerTotals();
        sum.Add(layer);
    }

    /// <summary>The decorator: the inner hook's answers unchanged, a lap of the clock and counter around each call.</summary>
    private sealed class MeasuringHook(ForwardProfiler profiler, ILayerCache? inner) : ILayerCache
    {
        public LayerRows SelectRows(TransformerLayer layer, Tensor hidden, LayerInputs inputs)
        {
            profiler.BeginLayer(layer.Index);
            var rows = inner?.SelectRows(layer, hidden, inputs) ?? LayerRows.All(inputs.SequenceLength);
            profiler._currentKind = rows.IsAll ? LayerKind.Full : rows.Count > 0 ? LayerKind.Partial : LayerKind.FromCache;
            profiler.EndPhase(LayerPhase.SelectRows);
            return rows;
        }

        public (Tensor Key, Tensor Value) UpdateKeyValue(TransformerLayer layer, in LayerRows rows, Tensor normalisedInput, Tensor query, Tensor key, Tensor value)
        {
            profiler.EndPhase(LayerPhase.Projections);
            var result = inner?.UpdateKeyValue(layer, rows, normalisedInput, query, key, value) ?? (key, value);
            profiler.EndPhase(LayerPhase.CacheKeyValue);
            return result;
        }

        public Tensor MergeAttention(TransformerLayer layer, in LayerRows rows, Tensor? attention)
        {
            profiler.EndPhase(LayerPhase.Attention);
            var result = inner?.MergeAttention(layer, rows, attention) ?? attention!;
            profiler.EndPhase(LayerPhase.MergeAttention);
            return result;
        }

        public Tensor MergeFfn(TransformerLayer layer, in LayerRows rows, Tensor? ffn)
        {
            profiler.EndPhase(LayerPhase.Mlp);
            var result = inner?.MergeFfn(layer, rows, ffn) ?? ffn!;
            profiler.EndPhase(LayerPhase.MergeFfn);
            profiler.EndLayer();
            return result;
        }
    }
}

/// <summary>Time (<see cref="Stopwatch"/> ticks) and native calls (tensors created) of some work.</summary>
public readonly record struct Cost(long Ticks, long Calls)
{
    public double Milliseconds => Ticks * 1000.0 / Stopwatch.Frequency;

    public static Cost operator +(Cost a, Cost b) => new(a.Ticks + b.Ticks, a.Calls + b.Calls);

    public static Cost operator -(Cost a, Cost b) => new(a.Ticks - b.Ticks, a.Calls - b.Calls);
}

/// <summary>A layer's forward as the cache hook sees it.</summary>
public enum LayerKind
{
    /// <summary>Every row computed (step 0, refreshes, the plain forward).</summary>
    Full,
    /// <summary>Some rows computed, the rest from the cache.</summary>
    Partial,
    /// <summary>No row computed: every output from the cache (probes may still run).</summary>
    FromCache,
}

/// <summary>
/// The stretches of a layer between the cache hook's calls, in order. A layer whose hook computes no row skips
/// <see cref="Projections"/> and <see cref="CacheKeyValue"/> (its <see cref="Attention"/> is then only the hook's gap).
/// </summary>
public enum LayerPhase
{
    /// <summary>The hook choosing rows: the policy's plan, probes (e.g. a fresh V and its similarity), index tensors.</summary>
    SelectRows,
    /// <summary>Gathering the rows, the attention norm, q/k/v projections and rotary.</summary>
    Projections,
    /// <summary>The hook writing fresh K/V into its cache and returning every column's K/V.</summary>
    CacheKeyValue,
    /// <summary>Attention and the output projection.</summary>
    Attention,
    /// <summary>The hook filling the rows not computed from the cached attention output.</summary>
    MergeAttention,
    /// <summary>The residual add, gathering, the MLP norm and the MLP.</summary>
    Mlp,
    /// <summary>The hook filling the rows not computed from the cached MLP output.</summary>
    MergeFfn,
}

/// <summary>The summed cost of some layer forwards, by phase.</summary>
public sealed class LayerTotals
{
    internal static readonly int PhaseCount = Enum.GetValues<LayerPhase>().Length;
    private readonly Cost[] _phases = new Cost[PhaseCount];

    /// <summary>Layer forwards summed here.</summary>
    public int Count { get; private set; }

    public Cost this[LayerPhase phase] => _phases[(int)phase];

    public Cost Total => _phases.Aggregate(default(Cost), (sum, c) => sum + c);

    /// <summary>Per layer forward: the total divided by <see cref="Count"/>.</summary>
    public (double Milliseconds, double Calls) Mean(LayerPhase? phase = null)
    {
        var cost = phase is { } p ? this[p] : Total;
        return Count == 0 ? (0, 0) : (cost.Milliseconds / Count, (double)cost.Calls / Count);
    }

    internal void Add(Cost[] layer)
    {
        for (int i = 0; i < _phases.Length; i++) _phases[i] += layer[i];
        Count++;
    }
}
