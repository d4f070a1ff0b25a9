using System.CommandLine;
using System.Text.Json;

namespace PolicyKit.Cli.Commands;

internal static class CommonOptions
{
    public static Option<DirectoryInfo?> Model() => new("--model")
    {
        Description = "Model directory (config.json, *.safetensors, tokenizer.json). Default: the project's default model.",
    };

    public static Option<string> Device() => new("--device")
    {
        Description = "cpu, cuda or auto (cuda when available).",
        DefaultValueFactory = _ => "cpu",
    };
}

internal static class JsonDefaults
{
    public static readonly JsonSerializerOptions Options = new() { WriteIndented = false };
}
