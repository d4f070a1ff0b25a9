using FsCheck;
using FsCheck.Fluent;

namespace PolicyKit.Testing;

/// <summary>
/// FsCheck generators of <see cref="StepContext"/> values an engine can actually produce: step 0 has nothing
/// cached (every counter <see cref="StepContext.NeverRefreshed"/>, first step of the first block); later steps
/// have counters between 1 and the step number, sometimes still NeverRefreshed, biased towards small values so
/// typical intervals (1-8, 50, 100) are hit exactly. After step 0, one context in four has a drift trigger fired at an
/// earlier layer of its step (<see cref="StepContext.TriggeredAtLayer"/>).
/// </summary>
public static class StepContextGenerators
{
    // Static initializers run in text order: the building blocks come first.
    private static Gen<ModelShape> Shape { get; } =
        from layerCount in Gen.Frequency((1, Gen.Choose(1, 4)), (4, Gen.Choose(5, 48)))
        from layer in Gen.Choose(0, layerCount - 1)
        from blockCount in Gen.Choose(1, 16)
        from blockLength in Gen.Choose(1, 64)
        from promptLength in Gen.Choose(0, 2048)
        select new ModelShape(layerCount, layer, blockCount, blockLength, promptLength);

    /// <summary>The first forward pass of a generation: nothing is cached.</summary>
    public static Gen<StepContext> AtStepZero { get; } =
        from shape in Shape
        select shape.Build(step: 0, blockIndex: 0, stepInBlock: 0,
            StepContext.NeverRefreshed, StepContext.NeverRefreshed, StepContext.NeverRefreshed, StepContext.NeverRefreshed);

    /// <summary>Any context after step 0.</summary>
    public static Gen<StepContext> AfterStepZero { get; } = Gen.Choose(1, 600).SelectMany(Later);

    /// <summary>Any context: about one in eight is step 0.</summary>
    public static Gen<StepContext> Any { get; } = Gen.Frequency(
        (1, Gen.Constant(0)),
        (7, Gen.Choose(1, 600))).SelectMany(step => step == 0 ? AtStepZero : Later(step));

    /// <summary>Contexts of a model with exactly <paramref name="layerCount"/> layers.</summary>
    public static Gen<StepContext> ForLayerCount(int layerCount) =>
        from context in Any
        from layer in Gen.Choose(0, layerCount - 1)
        select WithLayer(context, layer, layerCount);

    private static StepContext WithLayer(StepContext context, int layer, int layerCount) => new()
    {
        Step = context.Step, Layer = layer, LayerCount = layerCount, BlockIndex = context.BlockIndex, BlockCount = context.BlockCount,
        StepInBlock = context.StepInBlock, PromptLength = context.PromptLength, ResponseLength = context.ResponseLength,
        ActiveBlockStart = context.ActiveBlockStart, ActiveBlockLength = context.ActiveBlockLength,
        StepsSincePromptRefresh = context.StepsSincePromptRefresh, StepsSinceResponsePrefixRefresh = context.StepsSinceResponsePrefixRefresh,
        StepsSinceActiveBlockRefresh = context.StepsSinceActiveBlockRefresh, StepsSinceResponseSuffixRefresh = context.StepsSinceResponseSuffixRefresh,
        TriggeredAtLayer = context.TriggeredAtLayer is { } triggered ? Math.Min(triggered, layer - 1) is var t && t >= 0 ? t : null : null,
    };

    private static Gen<StepContext> Later(int step) =>
        from shape in Shape
        from blockIndex in Gen.Choose(0, Math.Min(shape.BlockCount - 1, step))
        // A block start happens often enough (stepInBlock 0) to exercise block-start rules.
        from stepInBlock in Gen.Frequency((1, Gen.Constant(0)), (3, Gen.Choose(0, Math.Max(0, step - blockIndex))))
        from prompt in Counter(step)
        from prefix in Counter(step)
        from active in Counter(step)
        from suffix in Counter(step)
        from triggered in shape.Layer == 0 ? Gen.Constant<int?>(null) : Gen.Frequency((3, Gen.Constant<int?>(null)), (1, Gen.Choose(0, shape.Layer - 1).Select(l => (int?)l)))
        select shape.Build(step, blockIndex, stepInBlock, prompt, prefix, active, suffix) with { TriggeredAtLayer = triggered };

    private static Gen<int> Counter(int step) => Gen.Frequency(
        (6, Gen.Choose(1, 12)),
        (3, Gen.Choose(1, 160)),
        (2, Gen.Choose(1, 1000)),
        (1, Gen.Constant(StepContext.NeverRefreshed)))
        .Select(counter => counter == StepContext.NeverRefreshed ? counter : Math.Min(counter, step));

    private sealed record ModelShape(int LayerCount, int Layer, int BlockCount, int BlockLength, int PromptLength)
    {
        public StepContext Build(int step, int blockIndex, int stepInBlock, int prompt, int prefix, int active, int suffix) => new()
        {
            Step = step,
            Layer = Layer,
            LayerCount = LayerCount,
            BlockIndex = blockIndex,
            BlockCount = BlockCount,
            StepInBlock = stepInBlock,
            PromptLength = PromptLength,
            ResponseLength = BlockCount * BlockLength,
            ActiveBlockStart = blockIndex * BlockLength,
            ActiveBlockLength = BlockLength,
            StepsSincePromptRefresh = prompt,
            StepsSinceResponsePrefixRefresh = prefix,
            StepsSinceActiveBlockRefresh = active,
            StepsSinceResponseSuffixRefresh = suffix,
        };
    }
}

/// <summary>
/// Arbitrary instances for FsCheck.Xunit: <c>[Property(Arbitrary = new[] { typeof(PolicyArbitraries) })]</c>
/// makes every <see cref="StepContext"/> parameter an engine-consistent context.
/// </summary>
public static class PolicyArbitraries
{
    public static Arbitrary<StepContext> StepContext() => Arb.From(StepContextGenerators.Any);
}
