namespace PolicyKit.Diffusion;

/// <summary>
/// Base of every error PolicyKit reports about its inputs (files, configuration, environment).
/// The message is one line that says what is wrong, so a command-line front end can print it as is.
/// </summary>
public class PolicyKitException : Exception
{
    public PolicyKitException(string message) : base(message) { }
    public PolicyKitException(string message, Exception? inner) : base(message, inner) { }
}

/// <summary>A checkpoint file (safetensors, shard index) is missing, malformed or does not fit the model.</summary>
public sealed class CheckpointException : PolicyKitException
{
    public CheckpointException(string file, string? tensor, string problem, Exception? inner = null)
        : base(Format(file, tensor, problem), inner)
    {
        File = file;
        Tensor = tensor;
        Problem = problem;
    }

    /// <summary>The file the problem was found in.</summary>
    public string File { get; }

    /// <summary>The tensor concerned, or null when the problem is about the whole file.</summary>
    public string? Tensor { get; }

    /// <summary>The problem without the file and tensor prefix.</summary>
    public string Problem { get; }

    private static string Format(string file, string? tensor, string problem) =>
        tensor is null ? $"{file}: {problem}" : $"{file}: tensor '{tensor}': {problem}";
}

/// <summary>config.json is missing, unreadable, or holds values the model cannot be built from.</summary>
public sealed class ModelConfigException : PolicyKitException
{
    public ModelConfigException(string file, string problem, Exception? inner = null)
        : base($"{file}: {problem}", inner)
    {
        File = file;
        Problem = problem;
    }

    public string File { get; }
    public string Problem { get; }
}

/// <summary>A tokenizer file is missing, malformed or uses a feature this loader does not support.</summary>
public sealed class TokenizerException : PolicyKitException
{
    public TokenizerException(string file, string problem, Exception? inner = null)
        : base($"{file}: {problem}", inner)
    {
        File = file;
        Problem = problem;
    }

    public string File { get; }
    public string Problem { get; }
}

/// <summary>TorchSharp's native runtime cannot be loaded, or the requested device does not exist.</summary>
public sealed class TorchRuntimeException : PolicyKitException
{
    public TorchRuntimeException(string message, Exception? inner = null) : base(message, inner) { }
}
