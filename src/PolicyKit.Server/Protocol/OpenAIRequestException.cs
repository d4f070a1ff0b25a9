using Microsoft.AspNetCore.Http;

namespace PolicyKit.Server.Protocol;

/// <summary>
/// A request the server refuses, answered with an OpenAI-style error body
/// (<c>{"error": {"message", "type", "param", "code"}}</c>) and <see cref="StatusCode"/>.
/// </summary>
public sealed class OpenAIRequestException(int statusCode, string message, string? param = null,
    string type = OpenAIRequestException.InvalidRequest, string? code = null) : Exception(message)
{
    public const string InvalidRequest = "invalid_request_error";

    public int StatusCode { get; } = statusCode;

    /// <summary>The request field at fault (<c>messages[0].content</c>), or null when no single field is.</summary>
    public string? Param { get; } = param;

    public string Type { get; } = type;

    public string? Code { get; } = code;

    /// <summary>A 400 naming <paramref name="param"/>.</summary>
    public static OpenAIRequestException BadRequest(string? param, string message) => new(StatusCodes.Status400BadRequest, message, param);

    /// <summary>The error body as OpenAI writes it.</summary>
    public object ToBody() => new { error = new { message = Message, type = Type, param = Param, code = Code } };
}
