using System.CommandLine;
using PolicyKit.Diffusion.Checkpoints;
using PolicyKit.Diffusion.Model;

namespace PolicyKit.Cli.Commands;

/// <summary><c>policykit new-model</c>: a randomly initialised checkpoint in a real HF layout.</summary>
internal static class NewModelCommand
{
    public static Command Create()
    {
        var layout = new Option<string>("--layout") { Description = "llada or dream.", DefaultValueFactory = _ => "llada" };
        layout.AcceptOnlyFromAmong("llada", "dream");
        var output = new Option<DirectoryInfo>("--out") { Description = "Directory to write (must not exist or be empty).", Required = true };
        var layers = new Option<int?>("--layers") { Description = "Transformer layers." };
        var hidden = new Option<int?>("--hidden") { Description = "Hidden size (d_model)." };
        var heads = new Option<int?>("--heads") { Description = "Attention heads." };
        var kvHeads = new Option<int?>("--kv-heads") { Description = "Key/value heads (GQA when fewer than --heads)." };
        var vocab = new Option<int?>("--vocab") { Description = "Vocabulary size (at least the tokenizer's; default: the tokenizer's rounded up to 64)." };
        var maxLength = new Option<int?>("--max-sequence-length") { Description = "Longest prompt + response the model accepts (its position range; default 2048)." };
        var seed = new Option<int>("--seed") { Description = "Initialisation seed.", DefaultValueFactory = _ => 0 };

        var command = new Command("new-model", "Write a randomly initialised checkpoint (config.json, model.safetensors, tokenizer.json).")
        {
            layout, output, layers, hidden, heads, kvHeads, vocab, maxLength, seed,
        };
        command.SetAction((parse, _) => CliErrors.Guard(ct =>
        {
            var kind = parse.GetValue(layout) == "dream" ? Layout.Dream : Layout.LLaDA;
            var defaults = new ModelSizes();
            var sizes = defaults with
            {
                Layers = parse.GetValue(layers) ?? defaults.Layers,
                HiddenSize = parse.GetValue(hidden) ?? defaults.HiddenSize,
                Heads = parse.GetValue(heads) ?? defaults.Heads,
                KvHeads = parse.GetValue(kvHeads),
                VocabSize = parse.GetValue(vocab),
                MaxSequenceLength = parse.GetValue(maxLength) ?? defaults.MaxSequenceLength,
            };
            if (sizes.MaxSequenceLength < 2) throw new ArgumentException($"--max-sequence-length: must be at least 2 (got {sizes.MaxSequenceLength}).");
            var dir = parse.GetValue(output)!;
            if (dir.Exists && dir.EnumerateFileSystemInfos().Any())
                throw new ArgumentException($"--out: {dir.FullName} exists and is not empty.");
            var config = RandomCheckpoint.Write(dir.FullName, kind, sizes, parse.GetValue(seed));
            Console.WriteLine($"wrote a random {kind} model ({config.NumLayers} layers, hidden {config.HiddenSize}, {config.NumHeads}/{config.NumKvHeads} heads, vocab {config.VocabSize}, max length {config.MaxSequenceLength}) to {dir.FullName}");
            return Task.FromResult(0);
        }));
        return command;
    }
}
