using System.CommandLine;
using PolicyKit.Diffusion.Generation;
using PolicyKit.Diffusion.Sampling;

namespace PolicyKit.Cli.Commands;

/// <summary>
/// The prompt, policy and sampler options that <c>generate</c> and <c>trace</c> share, defined once so both
/// commands accept the same flags with the same defaults.
/// </summary>
internal sealed class SamplerOptionSet
{
    public Option<string> Prompt { get; } = new("--prompt") { Description = "The prompt text.", DefaultValueFactory = _ => MainJob.SamplePrompt };
    public Option<string> Policy { get; } = new("--policy") { Description = "Cache policy (see `policykit policies`).", DefaultValueFactory = _ => Policies.Default };
    public Option<int> GenLength { get; } = new("--gen-length") { Description = "Tokens to generate.", DefaultValueFactory = _ => 32 };
    public Option<int> Steps { get; } = new("--steps") { Description = "Denoising steps (spread evenly over blocks).", DefaultValueFactory = _ => 32 };
    public Option<int> BlockLength { get; } = new("--block-length") { Description = "Semi-autoregressive block length (LLaDA models).", DefaultValueFactory = _ => 32 };
    public Option<double> Temperature { get; } = new("--temperature") { Description = "Gumbel-max sampling temperature; 0 = greedy.", DefaultValueFactory = _ => 0.0 };
    public Option<double?> Threshold { get; } = new("--threshold") { Description = "Fast-dLLM parallel decoding: commit every masked token above this confidence (0, 1]." };
    public Option<double> Cfg { get; } = new("--cfg") { Description = "Classifier-free guidance scale; 0 = off.", DefaultValueFactory = _ => 0.0 };
    public Option<ConfidenceKind?> Remasking { get; } = new("--remasking") { Description = "Commit order: Probability (low-confidence), Random, Margin, NegativeEntropy. Default: the model family's." };
    public Option<ConfidencePrecision> ConfidencePrecision { get; } = new("--confidence-precision")
    {
        Description = "Precision of commit confidences: Model (the logits' dtype, as LLaDA's generate.py) or Float64.",
        DefaultValueFactory = _ => Diffusion.Sampling.ConfidencePrecision.Model,
    };
    public Option<long> Seed { get; } = new("--seed") { Description = "Random seed (sampling noise).", DefaultValueFactory = _ => 0 };

    /// <summary>Every option, in the order <c>--help</c> lists them.</summary>
    public IEnumerable<Option> All =>
        [Prompt, Policy, GenLength, Steps, BlockLength, Temperature, Threshold, Cfg, Remasking, ConfidencePrecision, Seed];

    /// <summary>The sampler settings the command line asks for, on top of the model family's defaults.</summary>
    public SamplerOptions Build(ParseResult parse, TextGenerator generator)
    {
        var options = generator.DefaultOptions(parse.GetValue(GenLength), parse.GetValue(Steps), parse.GetValue(BlockLength)) with
        {
            Temperature = parse.GetValue(Temperature),
            CfgScale = parse.GetValue(Cfg),
            Seed = parse.GetValue(Seed),
            ConfidencePrecision = parse.GetValue(ConfidencePrecision),
        };
        if (parse.GetValue(Threshold) is double p) options = options with { Schedule = TransferSchedule.Threshold, Threshold = p };
        if (parse.GetValue(Remasking) is ConfidenceKind kind) options = options with { Confidence = kind };
        return options;
    }
}
