using TorchSharp;
using static TorchSharp.torch;

namespace PolicyKit.Diffusion.Sampling;

/// <summary>
/// One generation of a <see cref="DiffusionSampler"/>, advanced one denoising step at a time: the token state
/// (managed arrays), where the step loop stands (block, step in block, each row's linear transfer counts) and each
/// row's random stream. <see cref="DiffusionSampler.Run"/> steps it to the end; a scheduler may interleave the steps
/// of several runs. Rows are left-padded so the response columns line up. Not thread-safe: one caller steps it.
/// </summary>
public sealed class SamplerRun : IDisposable
{
    private readonly DiffusionSampler _sampler;
    private readonly SamplerOptions _options;
    private readonly int _stepsPerBlock;
    private int _block, _stepInBlock, _step;
    private int[][]? _linear;  // per row, the block's tokens to commit at each step (linear schedule)
    private bool _disposed;

    internal SamplerRun(DiffusionSampler sampler, IDenoiser denoiser, IReadOnlyList<IReadOnlyList<int>> prompts, IReadOnlyList<long> seeds)
    {
        _sampler = sampler;
        _options = sampler.Options;
        Denoiser = denoiser;
        int rows = prompts.Count;
        PromptLength = prompts.Max(p => p.Count);
        int total = PromptLength + _options.GenLength;
        long mask = denoiser.MaskTokenId;

        Tokens = new long[rows][];
        bool padded = false;
        for (int r = 0; r < rows; r++)
        {
            Tokens[r] = new long[total];
            int pad = PromptLength - prompts[r].Count;
            padded |= pad > 0;
            Array.Fill(Tokens[r], mask);  // padding and response start masked; padding is never attended to
            for (int j = 0; j < prompts[r].Count; j++) Tokens[r][pad + j] = prompts[r][j];
        }
        // The run owns the mask across steps: out of any caller's dispose scope.
        AttentionMask = padded ? DiffusionSampler.BuildAttentionMask(prompts, PromptLength, total, denoiser.Device).DetachFromDisposeScope() : null;
        Generators = seeds.Select(seed => new Generator((ulong)seed)).ToArray();
        _stepsPerBlock = _options.Steps / _options.BlockCount;
        Advance();
    }

    internal IDenoiser Denoiser { get; }
    internal long[][] Tokens { get; }
    internal Tensor? AttentionMask { get; }
    internal Generator[] Generators { get; }
    internal long[][]? LastPrediction { get; set; }

    /// <summary>Rows (prompts) of the run.</summary>
    public int Rows => Tokens.Length;

    /// <summary>The longest prompt: where every row's response starts.</summary>
    public int PromptLength { get; }

    /// <summary>Steps run so far.</summary>
    public int Steps => _step;

    /// <summary>True when every block is finished: <see cref="Result"/> is final.</summary>
    public bool IsDone => _block == _options.BlockCount;

    /// <summary>
    /// Runs the next denoising step: one forward pass, then each row commits under the schedule. Returns the step's
    /// report when <paramref name="report"/> is true (the token copy costs a little), else null.
    /// </summary>
    /// <exception cref="InvalidOperationException">The run is done.</exception>
    public SamplerStepReport? Step(bool report = false)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (IsDone) throw new InvalidOperationException($"the run is done after {_step} steps.");
        var o = _options;
        var info = new DenoiseStep(_step, _block, o.BlockCount, _stepInBlock, PromptLength, o.GenLength, _block * o.BlockLength, o.BlockLength);
        var committed = _sampler.Step(this, info, _linear);
        var result = report ? new SamplerStepReport(info, Tokens.Select(t => (long[])t.Clone()).ToArray(), committed, LastPrediction) : null;
        _step++;
        _stepInBlock++;
        Advance();
        return result;
    }

    /// <summary>Row <paramref name="row"/>'s generated tokens so far (masks where nothing is committed yet).</summary>
    public long[] ResponseOf(int row) => Tokens[row][PromptLength..];

    /// <summary>The outcome; every response is complete once <see cref="IsDone"/>.</summary>
    public SamplerResult Result() => new(Tokens.Select(t => t[PromptLength..]).ToArray(), _step);

    /// <summary>Moves to the next step to run: past finished blocks (all steps run, or nothing masked under the threshold schedule).</summary>
    private void Advance()
    {
        var o = _options;
        long mask = Denoiser.MaskTokenId;
        while (_block < o.BlockCount)
        {
            int start = PromptLength + _block * o.BlockLength;
            bool finished = o.Schedule == TransferSchedule.Threshold
                ? !DiffusionSampler.AnyMasked(Tokens, start, o.BlockLength, mask)
                : _stepInBlock == _stepsPerBlock;
            if (!finished)
            {
                if (_stepInBlock == 0 && o.Schedule == TransferSchedule.Linear)
                    _linear = Tokens.Select(t => SamplerOptions.LinearTransferCounts(DiffusionSampler.CountMasked(t, start, o.BlockLength, mask), _stepsPerBlock)).ToArray();
                return;
            }
            _block++;
            _stepInBlock = 0;
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        AttentionMask?.Dispose();
        foreach (var g in Generators) g.Dispose();
    }
}
