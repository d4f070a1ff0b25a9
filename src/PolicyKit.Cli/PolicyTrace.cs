using PolicyKit.Diffusion.Caching;
using PolicyKit.Diffusion.Checkpoints;
using PolicyKit.Diffusion.Flops;
using PolicyKit.Diffusion.Generation;
using PolicyKit.Diffusion.Model;
using PolicyKit.Diffusion.Sampling;
using TorchSharp;

namespace PolicyKit.Cli;

/// <summary>
/// What one layer did at one step, as shares of the sequence's rows (columns: prompt and response tokens).
/// The shares sum to 1.
/// </summary>
/// <param name="Layer">The layer index, 0 first.</param>
/// <param name="Recomputed">Share of rows the layer computed afresh.</param>
/// <param name="Reused">Share of rows taken from the cache.</param>
/// <param name="Dropped">Share of rows left out of the forward (neither queries nor keys; DPad's far suffix).</param>
/// <param name="RowsRecomputed">Rows computed afresh (per sequence of the batch).</param>
/// <param name="RowsDropped">Rows left out of the forward.</param>
/// <param name="Rows">Rows of the sequence (prompt + response).</param>
/// <param name="Plan">The policy's plan for the layer (<c>none</c>: the plain forward, no plan).</param>
internal sealed record LayerShares(int Layer, double Recomputed, double Reused, double Dropped, int RowsRecomputed, int RowsDropped, int Rows, string Plan)
{
    /// <summary>The plan's drift test fired at this layer (Elastic-Cache): the later layers of the step saw it.</summary>
    public bool TriggerFired { get; init; }
}

/// <summary>One denoising step: where the active block lay and what every layer did.</summary>
internal sealed record TraceStep(int Step, int Block, int StepInBlock, int ActiveBlockStart, int ActiveBlockLength, IReadOnlyList<LayerShares> Layers)
{
    /// <summary>The first step of a block (where block-start rules fire).</summary>
    public bool BlockStart => StepInBlock == 0;
}

/// <summary>One generation under one policy, step by step and layer by layer.</summary>
internal sealed record PolicyTrace(
    string Policy, string Model, Layout Layout, int LayerCount, int PromptLength, int GenLength, int BlockCount,
    IReadOnlyList<TraceStep> Steps, FlopCount Flops, double RecomputeFraction, string Text)
{
    /// <summary>
    /// Runs one generation of <paramref name="prompt"/> and keeps the cache session's per-(step, layer) records
    /// (the sampler and denoiser are driven here, not through <see cref="TextGenerator"/>, which frees the session
    /// with its statistics before returning).
    /// </summary>
    public static PolicyTrace Record(TextGenerator generator, string modelName, string prompt, SamplerOptions options, ICachePolicy policy, CancellationToken cancellationToken)
    {
        var model = generator.Model;
        var ids = generator.EncodePrompt(prompt);
        generator.EnsureFits(ids.Length, options.GenLength);

        var sampler = new DiffusionSampler(options);
        using var denoiser = new ModelDenoiser(model, policy);
        var steps = new List<DenoiseStep>();
        SamplerResult result;
        using (torch.no_grad())
            result = sampler.Run(denoiser, [ids], cancellationToken, report => steps.Add(report.Step));

        int layers = model.Config.NumLayers;
        var records = denoiser.Session?.Statistics.Records;
        var byStep = records?.ToLookup(r => r.Step);
        var traced = steps.Select(s => new TraceStep(s.Step, s.BlockIndex, s.StepInBlock, s.ActiveBlockStart, s.ActiveBlockLength,
            byStep is null ? Uncached(layers, s.SequenceLength) : PerLayer(byStep[s.Step], layers, s.Step))).ToArray();

        return new PolicyTrace(policy.Name, modelName, model.Config.Layout, layers, ids.Length, options.GenLength,
            steps.Count == 0 ? 0 : steps[^1].BlockCount, traced, denoiser.Flops, denoiser.RecomputeFraction, generator.Decode(result.ResponseIds[0]));
    }

    /// <summary>The shares of one record: the one place a record's rows are split into kinds.</summary>
    public static LayerShares Shares(in LayerStepRecord r)
    {
        double rows = r.SequenceLength;
        double recomputed = r.RowsRecomputed / rows, dropped = r.RowsDropped / rows;
        return new LayerShares(r.Layer, recomputed, 1 - recomputed - dropped, dropped, r.RowsRecomputed, r.RowsDropped, r.SequenceLength, r.Plan.ToString())
        {
            TriggerFired = r.TriggerFired,
        };
    }

    private static LayerShares[] PerLayer(IEnumerable<LayerStepRecord> records, int layers, int step)
    {
        var shares = new LayerShares?[layers];
        foreach (var r in records) shares[r.Layer] = Shares(r);
        for (int l = 0; l < layers; l++)
            if (shares[l] is null) throw new InvalidOperationException($"the cache session recorded nothing for layer {l} at step {step}.");
        return shares!;
    }

    // A policy without a cache runs the plain forward: every layer computes every row.
    private static LayerShares[] Uncached(int layers, int rows) =>
        Enumerable.Range(0, layers).Select(l => new LayerShares(l, 1, 0, 0, rows, 0, rows, "none")).ToArray();
}
