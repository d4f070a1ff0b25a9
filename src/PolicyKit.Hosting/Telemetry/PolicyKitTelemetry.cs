using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace PolicyKit.Hosting;

/// <summary>
/// PolicyKit's OpenTelemetry-compatible instrumentation, built on <see cref="System.Diagnostics"/> only (no exporter
/// dependency): a <see cref="Meter"/> and an <see cref="ActivitySource"/> both named <see cref="Name"/>. Collect them
/// with <c>.AddMeter("PolicyKit")</c> and <c>.AddSource("PolicyKit")</c> in an OpenTelemetry setup. Every generation
/// that <see cref="IDiffusionGenerator"/> runs is recorded, whichever front end (chat client, server, code) asked.
/// </summary>
public static class PolicyKitTelemetry
{
    /// <summary>The name of the meter and of the activity source.</summary>
    public const string Name = "PolicyKit";

    /// <summary>The activity of one generation (kind internal), a child of whatever activity is current when it starts.</summary>
    public const string GenerateActivityName = "policykit.generate";

    /// <summary>Instrument names. Where an OpenTelemetry GenAI semantic convention exists its name is used as is.</summary>
    public static class Instruments
    {
        /// <summary>Counter of generations, tagged with the policy and, for a failed one, <c>error.type</c>.</summary>
        public const string Generations = "policykit.generations";

        /// <summary>Histogram of tokens per generation, tagged <c>gen_ai.token.type</c> = <c>input</c> (prompt) or <c>output</c> (up to end-of-sequence). GenAI convention.</summary>
        public const string TokenUsage = "gen_ai.client.token.usage";

        /// <summary>Histogram of a generation's wall-clock time in seconds. GenAI convention.</summary>
        public const string OperationDuration = "gen_ai.client.operation.duration";

        /// <summary>Counter of denoising steps (forward passes) run.</summary>
        public const string Steps = "policykit.steps";

        /// <summary>Histogram of one denoising step's wall-clock time in seconds (forward pass plus commit).</summary>
        public const string StepDuration = "policykit.step.duration";

        /// <summary>Counter of the FLOPs executed under the cache policy.</summary>
        public const string FlopsExecuted = "policykit.flops.executed";

        /// <summary>Counter of the FLOPs the uncached model would have executed for the same forwards.</summary>
        public const string FlopsFull = "policykit.flops.full";

        /// <summary>Histogram of the share of layer rows a generation recomputed (1 without a cache).</summary>
        public const string RowsRecomputed = "policykit.rows_recomputed";
    }

    /// <summary>Tag (attribute) names on measurements and activities.</summary>
    public static class Tags
    {
        /// <summary>The cache policy's name.</summary>
        public const string Policy = "policykit.policy";

        /// <summary><c>input</c> or <c>output</c> (GenAI convention).</summary>
        public const string TokenType = "gen_ai.token.type";

        /// <summary>The exception type of a failed generation (OpenTelemetry convention).</summary>
        public const string ErrorType = "error.type";

        /// <summary>Activity tags of the request and of its outcome.</summary>
        public const string GenLength = "policykit.gen_length";
        public const string BlockLength = "policykit.block_length";
        public const string RequestedSteps = "policykit.request.steps";
        public const string Steps = "policykit.steps";
        public const string InputTokens = "gen_ai.usage.input_tokens";
        public const string OutputTokens = "gen_ai.usage.output_tokens";
        public const string FlopsExecuted = "policykit.flops.executed";
        public const string FlopsFull = "policykit.flops.full";
        public const string RowsRecomputed = "policykit.rows_recomputed";
    }

    /// <summary>The activity source every generation's <see cref="GenerateActivityName"/> activity comes from.</summary>
    public static ActivitySource ActivitySource { get; } = new(Name, typeof(PolicyKitTelemetry).Assembly.GetName().Version?.ToString());
}
